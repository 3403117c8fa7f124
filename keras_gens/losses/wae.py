"""Latent penalties of the Wasserstein auto-encoder: D_Z(Q_Z, P_Z) estimated by an adversary or by MMD.

GAN penalty (WAE-GAN, the thesis's Algorithm 2), with D(z) = sigmoid(logit(z)):
    discriminator ascends  λ/n Σ [log D(z_i) + log(1 − D(z̃_i))]  (z_i ~ P_Z, z̃_i ~ Q_Z)
    encoder descends       −λ/n Σ log D(z̃_i)
MMD penalty (WAE-MMD): the unbiased MMD² between prior and encoded codes with
the inverse multiquadratic kernel k(x, y) = C / (C + ‖x − y‖²), summed over
C = 2·d·σ_z² · s for s in (0.1, 0.2, 0.5, 1, 2, 5, 10), as the WAE paper's code does.
"""
from __future__ import annotations

import tensorflow as tf

IMQ_SCALES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


def _bce_with_logits(labels_value: float, logits: tf.Tensor) -> tf.Tensor:
    logits = tf.reshape(tf.cast(logits, tf.float32), [-1])
    return tf.nn.sigmoid_cross_entropy_with_logits(tf.fill(tf.shape(logits), labels_value), logits)


def gan_discriminator_loss(prior_logits: tf.Tensor, encoded_logits: tf.Tensor) -> tf.Tensor:
    """Per-example −[log D(z) + log(1 − D(z̃))]: the discriminator's loss before the λ weight."""
    return _bce_with_logits(1.0, prior_logits) + _bce_with_logits(0.0, encoded_logits)


def gan_encoder_penalty(encoded_logits: tf.Tensor) -> tf.Tensor:
    """Per-example −log D(z̃): the encoder's penalty before the λ weight (non-saturating)."""
    return _bce_with_logits(1.0, encoded_logits)


def _squared_distances(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    a, b = tf.cast(a, tf.float32), tf.cast(b, tf.float32)
    return tf.maximum(tf.reduce_sum(a * a, 1)[:, None] + tf.reduce_sum(b * b, 1)[None, :]
                      - 2.0 * tf.matmul(a, b, transpose_b=True), 0.0)


def mmd_penalty(prior_codes: tf.Tensor, encoded_codes: tf.Tensor, prior_variance: float) -> tf.Tensor:
    """Unbiased MMD² estimate (a scalar for the batch) between the prior and the encoded codes."""
    n = tf.cast(tf.shape(prior_codes)[0], tf.float32)
    dim = tf.cast(tf.shape(prior_codes)[1], tf.float32)
    off_diagonal = 1.0 - tf.eye(tf.shape(prior_codes)[0])
    d_pp = _squared_distances(prior_codes, prior_codes)
    d_qq = _squared_distances(encoded_codes, encoded_codes)
    d_pq = _squared_distances(prior_codes, encoded_codes)
    base = 2.0 * dim * prior_variance
    total = 0.0
    for scale in IMQ_SCALES:
        c = base * scale
        within = tf.reduce_sum((c / (c + d_pp) + c / (c + d_qq)) * off_diagonal) / (n * n - n)
        across = tf.reduce_sum(c / (c + d_pq)) * 2.0 / (n * n)
        total += within - across
    return total
