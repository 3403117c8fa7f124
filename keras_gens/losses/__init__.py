"""Losses, each a small module tested on its own."""
from keras_gens.losses.autoencoder import gaussian_kl, squared_error

__all__ = ["gaussian_kl", "squared_error"]
