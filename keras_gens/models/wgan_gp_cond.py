"""PE-GAN's baseline (seed 004): a WGAN-GP with a class-embedding layer for the 40 PXD sensors.

The paper names its starting point only as "WGAN-gp with an extra embedding layer" whose
large kernels made generation slow; this is that model in the keras-io WGAN-GP style:
    generator  [z ‖ Embed(y)] → Linear → 4×12×8b → 6 × [5×5 transposed conv ×2 → BN → LeakyReLU]
               (widths 8b, 8b, 4b, 4b, 2b, b at 256×768) → 5×5 conv → tanh
    critic     [image ‖ Linear(Embed(y)) as an extra image channel] → 6 × [5×5 conv /2 → LeakyReLU]
               (widths b, 2b, 4b, 4b, 8b, 8b) → flatten → Linear → 1   (no BN: the penalty is per example)
Loss: D(G(z, y), y) − D(x, y) + 10·(‖∇D(x̂, y)‖ − 1)² with x̂ = x + α(G(z, y) − x), α ~ U(0, 1);
``model.critic_steps`` (5) critic updates, each on its own real batch, per generator update.
"""
from __future__ import annotations

import tensorflow as tf

from keras_gens.config import NON_NEGATIVE, NON_NEGATIVE_COUNT, SHARE, UNROLLED_STEPS, Range
from keras_gens.errors import ConfigError
from keras_gens.layers.activations import LeakyReLU
from keras_gens.layers.normalization import batch_norm
from keras_gens.losses.adversarial import discriminator_loss, gradient_penalty
from keras_gens.models.base import DataInfo
from keras_gens.models.hitmaps import HitmapModel
from keras_gens.registry import register

layers = tf.keras.layers


def _widths(multipliers, base):
    return [int(m) * base for m in multipliers]


def build_wgan_generator(image_shape, num_classes, *, latent_dim=128, embed_dim=128, base_filters=32,
                         widths=(8, 8, 4, 4, 2, 1), kernel_size=5, leaky_slope=0.2, name="generator"):
    stages = len(widths)
    height, width, channels = image_shape
    if height % 2 ** stages or width % 2 ** stages:
        raise ConfigError(f"wgan_gp_cond: {stages} ×2 stages need image sides divisible by {2 ** stages}; "
                          f"got {height}×{width}")
    z = tf.keras.Input((latent_dim,), name="z")
    labels = tf.keras.Input((), dtype=tf.int32, name="labels")
    x = layers.Concatenate(name="condition")([z, layers.Embedding(num_classes, embed_dim, name="embedding")(labels)])
    filters = _widths(widths, base_filters)
    x = layers.Dense((height >> stages) * (width >> stages) * filters[0], name="project")(x)
    x = layers.Reshape((height >> stages, width >> stages, filters[0]), name="reshape")(x)
    for i, f in enumerate(filters, 1):
        x = layers.Conv2DTranspose(f, kernel_size, strides=2, padding="same", use_bias=False, name=f"deconv{i}")(x)
        x = batch_norm(name=f"bn{i}")(x)
        x = LeakyReLU(leaky_slope, name=f"lrelu{i}")(x)
    x = layers.Conv2D(channels, kernel_size, padding="same", name="to_image")(x)
    return tf.keras.Model([z, labels], layers.Activation("tanh", dtype="float32", name="tanh")(x), name=name)


def build_wgan_critic(image_shape, num_classes, *, embed_dim=128, base_filters=32, widths=(1, 2, 4, 4, 8, 8),
                      kernel_size=5, leaky_slope=0.2, name="critic"):
    height, width, _ = image_shape
    images = tf.keras.Input(tuple(image_shape), name="images")
    labels = tf.keras.Input((), dtype=tf.int32, name="labels")
    label_map = layers.Embedding(num_classes, embed_dim, name="embedding")(labels)
    label_map = layers.Dense(height * width, name="label_map")(label_map)
    label_map = layers.Reshape((height, width, 1), name="label_channel")(label_map)
    x = layers.Concatenate(name="with_label")([images, label_map])
    for i, f in enumerate(_widths(widths, base_filters), 1):
        x = layers.Conv2D(f, kernel_size, strides=2, padding="same", name=f"conv{i}")(x)
        x = LeakyReLU(leaky_slope, name=f"lrelu{i}")(x)
    x = layers.Flatten(name="flatten")(x)
    return tf.keras.Model([images, labels], layers.Dense(1, dtype="float32", name="score")(x), name=name)


class ConditionalWGANGP(HitmapModel):
    tracked = ("d_loss", "g_loss", "gradient_penalty")

    def __init__(self, generator, critic, *, critic_steps=5, gp_weight=10.0, **kwargs):
        super().__init__(generator, critic, **kwargs)
        if self.num_classes < 2:
            raise ConfigError("wgan_gp_cond is conditional: it needs labelled data (sensor ids)")
        self.critic_steps, self.gp_weight = int(critic_steps), float(gp_weight)
        self.batches_per_step = self.critic_steps

    def critic_step(self, real, labels, stream):
        n = tf.shape(real)[0]
        fake = self.generator([self.normal_noise(n, (self.latent_dim,), stream=2 * stream), labels], training=True)
        alpha = self.uniform_noise(n, (1, 1, 1), stream=2 * stream + 1)
        with tf.GradientTape() as tape:
            wasserstein = discriminator_loss("wgan", self.discriminator([real, labels], training=True),
                                             self.discriminator([fake, labels], training=True))
            penalty = gradient_penalty(lambda x: self.discriminator([x, labels], training=True), real, fake, alpha)
            d_loss = wasserstein + self.gp_weight * penalty
            scaled = tf.nn.compute_average_loss(d_loss)
        self.descend_discriminator(tape, scaled)
        self.track(d_loss=d_loss, gradient_penalty=penalty)

    def train_step(self, batch):
        images, all_labels = batch["image"], tf.cast(batch["label"], tf.int32)
        label_chunks = tf.split(all_labels, self.critic_steps)
        for i, (real, labels) in enumerate(zip(tf.split(images, self.critic_steps), label_chunks)):
            self.critic_step(real, labels, stream=i)
        labels = label_chunks[-1]
        z = self.normal_noise(tf.shape(labels)[0], (self.latent_dim,), stream=2 * self.critic_steps)
        return self.update_generator("wgan", z, labels)


@register("wgan_gp_cond", summary="PE-GAN's baseline: conditional WGAN-GP with a sensor embedding (PXD hitmaps)",
          ranges={"model.leaky_slope": SHARE, "model.gp_weight": NON_NEGATIVE, "model.critic_steps": UNROLLED_STEPS,
                  "model.singular_values.every": NON_NEGATIVE_COUNT,
                  "model.singular_values.collapse_ratio": Range(1.0, low_open=True)})
def build_wgan_gp_cond(cfg, data: DataInfo) -> ConditionalWGANGP:
    m = cfg.model
    classes = max(data.num_classes, 1)
    if tuple(data.value_range) != (-1.0, 1.0):
        raise ConfigError("wgan_gp_cond's generator ends in tanh: set data.value_range=[-1, 1]")
    generator = build_wgan_generator(data.image_shape, classes, latent_dim=m.latent_dim, embed_dim=m.embed_dim,
                                     base_filters=m.base_filters, widths=tuple(m.generator_widths),
                                     kernel_size=m.kernel_size, leaky_slope=m.leaky_slope)
    critic = build_wgan_critic(data.image_shape, classes, embed_dim=m.embed_dim, base_filters=m.base_filters,
                               widths=tuple(m.critic_widths), kernel_size=m.kernel_size, leaky_slope=m.leaky_slope)
    model = ConditionalWGANGP(generator, critic, critic_steps=m.critic_steps, gp_weight=m.gp_weight,
                              latent_dim=m.latent_dim, value_range=data.value_range, num_classes=data.num_classes,
                              seed=cfg.train.seed, name="wgan_gp_cond")
    return model.configured(cfg)

