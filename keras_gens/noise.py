"""Random draws inside ``train_step`` that do not depend on the replica count or on resuming.

Each replica draws the noise of the *whole* global batch from a stateless
generator keyed by (model seed + stream, training step) and keeps its own
slice.  One replica and N replicas therefore see identical noise for every
example, and a resumed run continues the same sequence: the only RNG state
is the step counter, which lives in the checkpoint.
"""
from __future__ import annotations

import tensorflow as tf


def replica_context():
    ctx = tf.distribute.get_replica_context()
    if ctx is None:  # cross-replica context: behave as a single replica
        return 1, 0
    return ctx.num_replicas_in_sync, ctx.replica_id_in_sync_group


def step_seed(seed: int, stream: int, step) -> tf.Tensor:
    return tf.stack([tf.cast(seed * 1009 + stream, tf.int64), tf.cast(step, tf.int64)])


def normal(local_batch, event_shape, seed: tf.Tensor, stddev=1.0, dtype=tf.float32) -> tf.Tensor:
    """N(0, stddev²) noise of shape [local_batch, *event_shape]: this replica's slice of the global draw."""
    replicas, replica_id = replica_context()
    full = tf.random.stateless_normal(
        tf.concat([[local_batch * replicas], tf.constant(list(event_shape), tf.int32)], 0),
        seed=seed, stddev=stddev, dtype=dtype)
    start = replica_id * local_batch
    return full[start:start + local_batch]


def uniform(local_batch, event_shape, seed: tf.Tensor, minval=0.0, maxval=1.0, dtype=tf.float32) -> tf.Tensor:
    replicas, replica_id = replica_context()
    full = tf.random.stateless_uniform(
        tf.concat([[local_batch * replicas], tf.constant(list(event_shape), tf.int32)], 0),
        seed=seed, minval=minval, maxval=maxval, dtype=dtype)
    start = replica_id * local_batch
    return full[start:start + local_batch]
