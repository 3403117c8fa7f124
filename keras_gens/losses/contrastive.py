"""ContraGAN's conditional contrastive (2C) loss, with PE-GAN's anchors in place of class proxies.

For a batch of discriminator embeddings h_i and anchors a_i (the class proxy, or PE-GAN's
relational embedding of the sample's class), both L2-normalised, and temperature t:

    L_i = −log [ (exp(h_i·a_i/t) + Σ_{k≠i, y_k=y_i} exp(h_i·h_k/t))
               / (exp(h_i·a_i/t) + Σ_{k≠i} exp(h_i·h_k/t)) ]

It pulls same-class embeddings together and towards their anchor (data-to-data and data-to-class
relations) and pushes other classes away.  The paper's printed numerator, with 1_{k=i}, is a
typo for ContraGAN's 1_{y_k=y_i}: as printed, the numerator would not depend on the labels.
Computed with log-sum-exp over masked terms, per example.
"""
from __future__ import annotations

import tensorflow as tf


def conditional_contrastive_loss(embeddings, anchors, labels, temperature: float = 1.0) -> tf.Tensor:
    """Per-example 2C loss.  ``anchors``: [B, d], one per example (already gathered by label)."""
    h = tf.math.l2_normalize(tf.cast(embeddings, tf.float32), axis=-1)
    a = tf.math.l2_normalize(tf.cast(anchors, tf.float32), axis=-1)
    labels = tf.reshape(labels, [-1])
    n = tf.shape(h)[0]
    to_anchor = tf.reduce_sum(h * a, axis=-1, keepdims=True) / temperature  # [B, 1]
    similarity = tf.matmul(h, h, transpose_b=True) / temperature  # [B, B]
    others = tf.logical_not(tf.eye(n, dtype=tf.bool))
    same_class = tf.logical_and(others, tf.equal(labels[:, None], labels[None, :]))
    excluded = tf.constant(-1e9, tf.float32)
    log_numerator = tf.reduce_logsumexp(
        tf.concat([to_anchor, tf.where(same_class, similarity, excluded)], axis=1), axis=1)
    log_denominator = tf.reduce_logsumexp(
        tf.concat([to_anchor, tf.where(others, similarity, excluded)], axis=1), axis=1)
    return log_denominator - log_numerator
