"""Adversarial losses of the DCGAN family, per example (averaged over the global batch by the caller).

    gan    D: −log σ(D(x)) − log(1 − σ(D(G(z))))      G: −log σ(D(G(z)))  (non-saturating)
    lsgan  D: (D(x) − 1)² + D(G(z))²                   G: (D(G(z)) − 1)²
    wgan   D: D(G(z)) − D(x)                           G: −D(G(z))          (critic kept Lipschitz by clipping)

These are what OC-GAN's code computes (its LSGAN has no ½ factor).
"""
from __future__ import annotations

import tensorflow as tf

ADVERSARIAL_LOSSES = ("gan", "lsgan", "wgan")


def _flat(x):
    return tf.reshape(x, [-1])


def discriminator_loss(kind: str, real_out: tf.Tensor, fake_out: tf.Tensor) -> tf.Tensor:
    real_out, fake_out = _flat(real_out), _flat(fake_out)
    if kind == "gan":
        return (tf.nn.sigmoid_cross_entropy_with_logits(tf.ones_like(real_out), real_out)
                + tf.nn.sigmoid_cross_entropy_with_logits(tf.zeros_like(fake_out), fake_out))
    if kind == "lsgan":
        return tf.square(real_out - 1.0) + tf.square(fake_out)
    if kind == "wgan":
        return fake_out - real_out
    raise ValueError(f"unknown adversarial loss {kind!r}; choose from {', '.join(ADVERSARIAL_LOSSES)}")


def generator_loss(kind: str, fake_out: tf.Tensor) -> tf.Tensor:
    fake_out = _flat(fake_out)
    if kind == "gan":
        return tf.nn.sigmoid_cross_entropy_with_logits(tf.ones_like(fake_out), fake_out)
    if kind == "lsgan":
        return tf.square(fake_out - 1.0)
    if kind == "wgan":
        return -fake_out
    raise ValueError(f"unknown adversarial loss {kind!r}; choose from {', '.join(ADVERSARIAL_LOSSES)}")
