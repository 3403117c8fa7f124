"""Evaluation metrics, each usable on its own (the FID network is in ``keras_gens.metrics.inception``)."""
from keras_gens.metrics.frechet import FeatureMoments, frechet_distance
from keras_gens.metrics.kid import kernel_inception_distance
from keras_gens.metrics.sharpness import gradient_sharpness, laplacian_variance

__all__ = ["FeatureMoments", "frechet_distance", "kernel_inception_distance", "gradient_sharpness",
           "laplacian_variance"]
