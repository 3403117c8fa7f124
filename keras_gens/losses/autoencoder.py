"""Per-example auto-encoder losses: each returns a [batch] vector.

Models reduce them with ``tf.nn.compute_average_loss`` so that gradients are
averaged over the global batch under any distribution strategy.
"""
from __future__ import annotations

import tensorflow as tf


def squared_error(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    """c(x, y) = ‖x − y‖², summed over all pixels of each example."""
    # Losses are float32 whatever the networks compute in (train.precision=mixed_bfloat16).
    x, y = tf.cast(x, tf.float32), tf.cast(y, tf.float32)
    diff = tf.reshape(x - y, [tf.shape(x)[0], -1])
    return tf.reduce_sum(tf.square(diff), axis=1)


def gaussian_kl(mean: tf.Tensor, log_variance: tf.Tensor) -> tf.Tensor:
    """KL(N(mean, exp(log_variance)) ‖ N(0, I)), summed over latent dimensions."""
    mean, log_variance = tf.cast(mean, tf.float32), tf.cast(log_variance, tf.float32)
    return -0.5 * tf.reduce_sum(1.0 + log_variance - tf.square(mean) - tf.exp(log_variance), axis=1)
