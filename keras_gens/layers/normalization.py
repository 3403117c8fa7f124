"""Normalization layers shared by the model families."""
from __future__ import annotations

import tensorflow as tf


def batch_norm(name: str | None = None, **kwargs) -> tf.keras.layers.BatchNormalization:
    """BatchNormalization whose batch statistics span all replicas.

    With per-replica statistics a step on N replicas differs from the same
    step on one device; synchronized statistics keep training independent of
    the replica count (one all-reduce per layer).  On one replica the fused
    kernel computes the same statistics faster (7% of a DCGAN 64×64 step, 20%
    of the smoke WAE's on 2 CPU cores), so synchronisation is asked for only
    when the strategy in scope at build time has several replicas.
    """
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return tf.keras.layers.BatchNormalization(synchronized=replicas > 1, name=name, **kwargs)
