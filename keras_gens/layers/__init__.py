"""Reusable Keras layers (each builds, calls, and saves on its own)."""
from keras_gens.layers.normalization import batch_norm

__all__ = ["batch_norm"]
