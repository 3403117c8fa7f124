"""The conditional GAN that B²-FedGAN (seed 000) compares with BAGAN-GP: MLP generator and discriminator.

The paper gives "multilayer perceptrons with three hidden layers and LeakyReLU", Adam(2e-4,
β (0.5, 0.9)) and batch 512; the widths are those of the widely used Keras CGAN the authors'
description matches:
    generator      z ⊙ Embedding(y) → 3 × [Dense(256, 512, 1024) → LeakyReLU(0.2) → BN(momentum 0.8)] →
                   Dense(H·W·C, tanh) → image
    discriminator  flatten(x) ⊙ Embedding(y) → 3 × [Dense(512) → LeakyReLU(0.2)], dropout 0.4 after the
                   last two → Dense(1) (a logit; the loss applies the sigmoid)
Loss: the non-saturating GAN loss; one discriminator and one generator update per batch.

The paper "selected a random half-batch of images for each epoch", as that Keras CGAN's loop does:
its discriminator takes two updates per iteration, one on half a batch of real images and one on as
many fakes drawn with the same labels, and then the generator one update on a full batch.
``model.half_batch: true`` trains so (on the first half of each batch the runner feeds); the default
(false, ours) updates the discriminator once on a full real batch and as many fakes, so every image
the pipeline reads is used.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from keras_gens.config import BELOW_ONE, SHARE
from keras_gens.errors import ConfigError
from keras_gens.layers.activations import LeakyReLU
from keras_gens.losses.adversarial import discriminator_loss
from keras_gens.models.adversarial import AdversarialModel
from keras_gens.models.base import DataInfo
from keras_gens.registry import register

layers = tf.keras.layers


def build_cgan_generator(image_shape, num_classes, latent_dim=100, hidden=(256, 512, 1024), leaky_slope=0.2,
                         value_range=(-1.0, 1.0), name="generator"):
    z = tf.keras.Input((latent_dim,), name="z")
    labels = tf.keras.Input((), dtype=tf.int32, name="labels")
    x = layers.Multiply(name="condition")([z, layers.Embedding(num_classes, latent_dim, name="embedding")(labels)])
    for i, units in enumerate(hidden, 1):
        x = layers.Dense(units, name=f"dense{i}")(x)
        x = LeakyReLU(leaky_slope, name=f"lrelu{i}")(x)
        x = layers.BatchNormalization(momentum=0.8, name=f"bn{i}")(x)
    activation = "tanh" if tuple(value_range) == (-1.0, 1.0) else "sigmoid"
    x = layers.Dense(int(np.prod(image_shape)), activation=activation, name="to_pixels")(x)
    return tf.keras.Model([z, labels], layers.Reshape(tuple(image_shape), name="image")(x), name=name)


def build_cgan_discriminator(image_shape, num_classes, hidden=(512, 512, 512), leaky_slope=0.2, dropout=0.4,
                             name="discriminator"):
    images = tf.keras.Input(tuple(image_shape), name="images")
    labels = tf.keras.Input((), dtype=tf.int32, name="labels")
    pixels = int(np.prod(image_shape))
    x = layers.Multiply(name="condition")([layers.Flatten(name="flatten")(images),
                                           layers.Embedding(num_classes, pixels, name="embedding")(labels)])
    for i, units in enumerate(hidden, 1):
        x = layers.Dense(units, name=f"dense{i}")(x)
        x = LeakyReLU(leaky_slope, name=f"lrelu{i}")(x)
        if i > 1 and dropout:
            x = layers.Dropout(dropout, name=f"dropout{i}")(x)
    return tf.keras.Model([images, labels], layers.Dense(1, name="logit")(x), name=name)


class CGAN(AdversarialModel):
    checkpointed_trackers = {"d_loss": "d_loss_tracker", "g_loss": "g_loss_tracker"}

    def __init__(self, generator, discriminator, *, half_batch: bool = False, **kwargs):
        super().__init__(generator, discriminator, **kwargs)
        if self.num_classes < 2:
            raise ConfigError("cgan is conditional: it needs labelled data with at least two classes")
        self.half_batch = bool(half_batch)

    def train_step(self, batch):
        if self.half_batch:
            return self.half_batch_step(batch)
        real, labels = batch["image"], tf.cast(batch["label"], tf.int32)
        n = tf.shape(real)[0]
        z, fake_labels = self.normal_noise(n, (self.latent_dim,), stream=0), self.random_labels(n, stream=1)
        fake = self.generator([z, fake_labels], training=True)
        with tf.GradientTape() as tape:
            d_loss = discriminator_loss("gan", self.discriminator([real, labels], training=True),
                                        self.discriminator([fake, fake_labels], training=True))
            scaled = tf.nn.compute_average_loss(d_loss)
        self.descend_discriminator(tape, scaled)
        self.track(d_loss=d_loss)
        z, fake_labels = self.normal_noise(n, (self.latent_dim,), stream=2), self.random_labels(n, stream=3)
        return self.update_generator("gan", z, fake_labels)

    def half_batch_step(self, batch):
        """The paper's loop: D on half a batch of real images, then on as many fakes of their labels
        (two updates), G on a full batch of random labels."""
        n = tf.shape(batch["image"])[0]
        half = n // 2
        real, labels = batch["image"][:half], tf.cast(batch["label"][:half], tf.int32)
        fake = self.generator([self.normal_noise(half, (self.latent_dim,), stream=0), labels], training=True)
        parts = []
        for images, target in ((real, 1.0), (fake, 0.0)):
            with tf.GradientTape() as tape:
                logits = self.discriminator([images, labels], training=True)
                part = tf.nn.sigmoid_cross_entropy_with_logits(tf.fill(tf.shape(logits), target), logits)[:, 0]
                scaled = tf.nn.compute_average_loss(part)
            self.descend_discriminator(tape, scaled)
            parts.append(part)
        self.track(d_loss=parts[0] + parts[1])  # on the scale of the full-batch step's loss
        z, fake_labels = self.normal_noise(n, (self.latent_dim,), stream=2), self.random_labels(n, stream=3)
        return self.update_generator("gan", z, fake_labels)


@register("cgan", summary="B²-FedGAN: conditional GAN with MLP generator and discriminator (3 hidden layers)",
          ranges={"model.leaky_slope": SHARE, "model.dropout": BELOW_ONE})
def build_cgan(cfg, data: DataInfo) -> CGAN:
    m = cfg.model
    classes = max(data.num_classes, 1)
    generator = build_cgan_generator(data.image_shape, classes, m.latent_dim, tuple(m.generator_units),
                                     m.leaky_slope, data.value_range)
    discriminator = build_cgan_discriminator(data.image_shape, classes, tuple(m.discriminator_units), m.leaky_slope,
                                             m.dropout)
    model = CGAN(generator, discriminator, half_batch=m.half_batch, latent_dim=m.latent_dim,
                 value_range=data.value_range,
                 num_classes=data.num_classes, seed=cfg.train.seed, name="cgan")
    return model.compile_from_config(cfg)
