"""Losses of the re-ID paper (seed 002, section 2.2): batch-hard triplet and the mask losses.

    L_triplet    = mean over anchors a of max(0, max_p d(a, p) − min_n d(a, n) + m)       (1), batch-hard
    L_extractor  = λ1·L_triplet(originals) + (1 − λ1)·L_triplet(masked)                      (2)
    L_identity   = mse(F(a), F(M(a)·a))                                                     (3)
    L_sparsity   = mean(M(a))                                                               (4)
    L_contiguity = (1 / hw) Σ_ij |M_{i+1,j} − M_ij| + |M_{i,j+1} − M_ij|                    (5)
    L_mask       = λ2·L_identity + (1 − λ2)·(L_sparsity + L_contiguity)                     (6)
"""
from __future__ import annotations

import math

import tensorflow as tf


def pairwise_distances(embeddings: tf.Tensor, epsilon: float = 1e-12) -> tf.Tensor:
    """Euclidean distances [N, N]; ε inside the square root keeps the gradient at d = 0 finite."""
    embeddings = tf.cast(embeddings, tf.float32)
    squared_norms = tf.reduce_sum(tf.square(embeddings), axis=1)
    squared = squared_norms[:, None] - 2.0 * tf.matmul(embeddings, embeddings, transpose_b=True) + squared_norms[None]
    return tf.sqrt(tf.maximum(squared, 0.0) + epsilon)


def batch_hard_triplet_loss(labels: tf.Tensor, embeddings: tf.Tensor, margin: float = 1.0,
                            soft: bool = False) -> tf.Tensor:
    """Hermans et al.'s batch-hard triplet loss: per anchor, its farthest positive and nearest negative.

    Same semantics as ``tfa.losses.TripletHardLoss``: an anchor without a positive counts d_ap = 0,
    and one without a negative counts d_an = its largest distance in the batch (so a batch of one
    identity costs about the margin, not 0); ``soft=True`` uses softplus(d_ap − d_an) instead of the
    hinge.
    """
    labels = tf.reshape(labels, [-1])
    distances = pairwise_distances(embeddings)
    same = tf.equal(labels[:, None], labels[None])
    positives = tf.logical_and(same, tf.logical_not(tf.eye(tf.shape(labels)[0], dtype=tf.bool)))
    hardest_positive = tf.reduce_max(tf.where(positives, distances, 0.0), axis=1)
    # Same-identity entries stand in as the anchor's largest distance: never below a real negative,
    # and what TF Addons' masked minimum gives an anchor that has no negative at all.
    farthest = tf.reduce_max(distances, axis=1, keepdims=True)
    hardest_negative = tf.reduce_min(tf.where(same, farthest, distances), axis=1)
    gap = hardest_positive - hardest_negative
    per_anchor = tf.math.softplus(gap) if soft else tf.maximum(gap + margin, 0.0)
    return tf.reduce_mean(per_anchor)


def identity_loss(features: tf.Tensor, masked_features: tf.Tensor) -> tf.Tensor:
    """Eq. (3): mean squared difference of the features of an image and of its masked copy."""
    return tf.reduce_mean(tf.square(tf.cast(features, tf.float32) - tf.cast(masked_features, tf.float32)))


def sparsity_loss(masks: tf.Tensor) -> tf.Tensor:
    """Eq. (4): the mean mask value (1 for an all-ones mask)."""
    return tf.reduce_mean(tf.cast(masks, tf.float32))


def contiguity_loss(masks: tf.Tensor) -> tf.Tensor:
    """Eq. (5): total variation divided by h·w, averaged over images (0 for a constant mask)."""
    masks = tf.cast(masks, tf.float32)
    vertical = tf.reduce_sum(tf.abs(masks[:, 1:] - masks[:, :-1]), axis=[1, 2, 3])
    horizontal = tf.reduce_sum(tf.abs(masks[:, :, 1:] - masks[:, :, :-1]), axis=[1, 2, 3])
    area = tf.cast(tf.shape(masks)[1] * tf.shape(masks)[2], tf.float32)
    return tf.reduce_mean((vertical + horizontal) / area)


def mask_loss(identity, sparsity, contiguity, weight: float = 0.95) -> tf.Tensor:
    """Eq. (6), λ2 = ``weight``."""
    return weight * identity + (1.0 - weight) * (sparsity + contiguity)


def extractor_loss(triplet_original, triplet_masked, weight: float = 0.90) -> tf.Tensor:
    """Eq. (2), λ1 = ``weight``."""
    return weight * triplet_original + (1.0 - weight) * triplet_masked


def hidden_pixel_count(height: int, width: int, fraction: float) -> int:
    return int(math.ceil(fraction * height * width - 1e-9))


def hide_top_fraction(images: tf.Tensor, masks: tf.Tensor, fraction: float = 0.3) -> tf.Tensor:
    """Zero the ceil(fraction·H·W) pixels of each image where its mask is highest (the paper's 30% drop).

    The choice of pixels is not differentiated: masks steer the extractor, they do not learn from it.
    """
    shape = tf.shape(masks)
    n, height, width = shape[0], masks.shape[1], masks.shape[2]
    k = hidden_pixel_count(height, width, fraction)
    flat = tf.reshape(tf.stop_gradient(tf.cast(masks, tf.float32)), [n, height * width])
    _, top = tf.math.top_k(flat, k=k, sorted=False)
    rows = tf.repeat(tf.range(n)[:, None], k, axis=1)
    hidden = tf.scatter_nd(tf.stack([rows, top], axis=-1), tf.ones([n, k]), [n, height * width])
    keep = tf.reshape(1.0 - hidden, [n, height, width, 1])
    return images * tf.cast(keep, images.dtype)
