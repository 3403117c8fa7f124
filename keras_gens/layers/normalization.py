"""Normalization layers shared by the model families."""
from __future__ import annotations

import tensorflow as tf


def batch_norm(name: str | None = None, **kwargs) -> tf.keras.layers.BatchNormalization:
    """BatchNormalization whose batch statistics span all replicas.

    With per-replica statistics a step on N replicas differs from the same
    step on one device; synchronized statistics keep training independent of
    the replica count (one all-reduce per layer; a no-op on one device).
    """
    return tf.keras.layers.BatchNormalization(synchronized=True, name=name, **kwargs)
