"""Consistency regularization (Zhang et al. 2020, "CR-GAN"), as PE-GAN uses it on real images.

The discriminator should not care about transformations that keep an image real: with T(x) a
random horizontal flip (p = ½) and a random shift of up to 1/8 of each side (reflect padding),

    L_cr = (D(x) − D(T(x)))² + mean_d (h(x) − h(T(x)))²     (per example; h: D's embedding)

added to the discriminator's loss with weight λ_cr (10).  With a contrastive (2C) discriminator h is
the L2-normalised embedding, the one the 2C loss compares (StudioGAN's ``embed`` under
``normalize_d_embed``): on the raw embedding the term would mostly pin its length, which 2C ignores.  Hitmaps are flipped and shifted
in the generator's outputs too (the paper), so these transformations keep a hitmap plausible.
"""
from __future__ import annotations

import tensorflow as tf


def flip_and_shift(images: tf.Tensor, draws: tf.Tensor, max_shift: float = 0.125) -> tf.Tensor:
    """Random horizontal flips and shifts (reflect padding) of each image.

    ``draws``: [N, 3] uniform numbers in [0, 1) per image (flip, vertical and horizontal shift);
    a model takes them from ``GenerativeModel.uniform_noise``, so they do not depend on the replica count.
    """
    height, width = images.shape[1], images.shape[2]
    pad_h, pad_w = int(height * max_shift), int(width * max_shift)
    flipped = draws[:, 0] < 0.5
    images = tf.where(flipped[:, None, None, None], tf.reverse(images, axis=[2]), images)
    if pad_h == 0 and pad_w == 0:
        return images
    padded = tf.pad(images, [[0, 0], [pad_h, pad_h], [pad_w, pad_w], [0, 0]], mode="REFLECT")
    top = tf.minimum(tf.cast(draws[:, 1] * (2 * pad_h + 1), tf.int32), 2 * pad_h)
    left = tf.minimum(tf.cast(draws[:, 2] * (2 * pad_w + 1), tf.int32), 2 * pad_w)
    rows = top[:, None] + tf.range(height)[None]
    cols = left[:, None] + tf.range(width)[None]
    shifted = tf.gather(padded, rows, axis=1, batch_dims=1)
    return tf.gather(shifted, cols, axis=2, batch_dims=1)


def consistency_loss(scores, augmented_scores, embeddings=None, augmented_embeddings=None, *,
                     normalize_embeddings: bool = False) -> tf.Tensor:
    """Per-example squared differences of D's scores (summed over their dimensions) and embeddings (averaged
    over theirs; each L2-normalised first with ``normalize_embeddings``)."""
    def flat(x):
        return tf.reshape(tf.cast(x, tf.float32), [tf.shape(x)[0], -1])

    loss = tf.reduce_sum(tf.square(flat(scores) - flat(augmented_scores)), axis=1)
    if embeddings is not None:
        h, h_augmented = flat(embeddings), flat(augmented_embeddings)
        if normalize_embeddings:
            h, h_augmented = tf.math.l2_normalize(h, axis=1), tf.math.l2_normalize(h_augmented, axis=1)
        loss += tf.reduce_mean(tf.square(h - h_augmented), axis=1)
    return loss
