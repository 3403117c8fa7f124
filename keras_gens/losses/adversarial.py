"""Adversarial losses of the DCGAN family, per example (averaged over the global batch by the caller).

    gan    D: −log σ(D(x)) − log(1 − σ(D(G(z))))      G: −log σ(D(G(z)))  (non-saturating)
    lsgan  D: (D(x) − 1)² + D(G(z))²                   G: (D(G(z)) − 1)²
    wgan   D: D(G(z)) − D(x)                           G: −D(G(z))          (critic kept Lipschitz by clipping)
    hinge  D: relu(1 − D(x)) + relu(1 + D(G(z)))        G: −D(G(z))          (SAGAN, BigGAN, PE-GAN)

These are what OC-GAN's code computes (its LSGAN has no ½ factor).
"""
from __future__ import annotations

import tensorflow as tf

ADVERSARIAL_LOSSES = ("gan", "lsgan", "wgan", "hinge")


def _flat(x):
    # float32 losses whatever the networks compute in (train.precision=mixed_bfloat16)
    return tf.reshape(tf.cast(x, tf.float32), [-1])


def discriminator_loss(kind: str, real_out: tf.Tensor, fake_out: tf.Tensor) -> tf.Tensor:
    real_out, fake_out = _flat(real_out), _flat(fake_out)
    if kind == "gan":
        return (tf.nn.sigmoid_cross_entropy_with_logits(tf.ones_like(real_out), real_out)
                + tf.nn.sigmoid_cross_entropy_with_logits(tf.zeros_like(fake_out), fake_out))
    if kind == "lsgan":
        return tf.square(real_out - 1.0) + tf.square(fake_out)
    if kind == "wgan":
        return fake_out - real_out
    if kind == "hinge":
        return tf.nn.relu(1.0 - real_out) + tf.nn.relu(1.0 + fake_out)
    raise ValueError(f"unknown adversarial loss {kind!r}; choose from {', '.join(ADVERSARIAL_LOSSES)}")


def generator_loss(kind: str, fake_out: tf.Tensor) -> tf.Tensor:
    fake_out = _flat(fake_out)
    if kind == "gan":
        return tf.nn.sigmoid_cross_entropy_with_logits(tf.ones_like(fake_out), fake_out)
    if kind == "lsgan":
        return tf.square(fake_out - 1.0)
    if kind in ("wgan", "hinge"):
        return -fake_out
    raise ValueError(f"unknown adversarial loss {kind!r}; choose from {', '.join(ADVERSARIAL_LOSSES)}")


def gradient_penalty(critic, real: tf.Tensor, fake: tf.Tensor, alpha: tf.Tensor) -> tf.Tensor:
    """WGAN-GP's (‖∇ₓ critic(x̂)‖₂ − 1)² per example at x̂ = α·real + (1 − α)·fake.

    ``critic`` maps a batch of images to scores (close over labels for a conditional
    critic); ``alpha`` holds one U(0, 1) draw per example, broadcastable to the images.
    """
    fake = tf.cast(fake, real.dtype)
    mixed = alpha * real + (1.0 - alpha) * fake
    with tf.GradientTape() as tape:
        tape.watch(mixed)
        scores = critic(mixed)
    grads = tape.gradient(scores, mixed)
    norms = tf.sqrt(tf.reduce_sum(tf.square(tf.reshape(grads, [tf.shape(grads)[0], -1])), axis=1) + 1e-12)
    return tf.square(norms - 1.0)


def wrong_label_critic_loss(real_out, fake_out, wrong_out, *, balanced: bool = True) -> tf.Tensor:
    """BAGAN-GP's conditional critic: real images with their labels against fakes and against real images
    with a wrong label ŷ.

    reference  D(G(z, y'), y') + D(x, ŷ) − D(x, y)         (the BAGAN-GP code)
    balanced   ½·[D(G(z, y'), y') + D(x, ŷ)] − D(x, y)     (ours, the default)

    The reference counts two negatives against one positive, so any part of D that does not depend on
    the image (a bias, a label-only term) lowers it without bound, and the gradient penalty, which
    looks at image gradients only, cannot stop it: scores run away.  Halving the negatives makes
    those parts cancel, as in a plain WGAN critic.
    """
    negatives = _flat(fake_out) + _flat(wrong_out)
    return (0.5 * negatives if balanced else negatives) - _flat(real_out)
