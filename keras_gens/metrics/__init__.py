"""Evaluation metrics, each usable on its own."""
from keras_gens.metrics.sharpness import gradient_sharpness, laplacian_variance

__all__ = ["gradient_sharpness", "laplacian_variance"]
