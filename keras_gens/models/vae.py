"""The plain VAE of the WAE-ResNet thesis (seed 003, section 4.3.1).

Encoder: five 3×3 stride-2 convolutions (32, 64, 128, 256, 512), each with
LeakyReLU(0.02) and BatchNormalization; flatten; Dense(2048, selu).
Decoder: Dense(2048, selu) + BN; Dense(4·4·512, selu) reshaped to 4×4×512;
five 3×3 stride-2 transposed convolutions (256, 128, 64, 32, 16) with
LeakyReLU(0.02) and BN; a 3×3 stride-1 transposed convolution to the image
channels with BN and a sigmoid.  Latent 512, Adam(1e-3, β1 = 0.5), 100 epochs.
"""
from __future__ import annotations

import tensorflow as tf

from keras_gens.config import BLOCKS, NON_NEGATIVE, POSITIVE, SHARE
from keras_gens.errors import ConfigError
from keras_gens.layers import batch_norm, build_resnet_encoder, scale_width
from keras_gens.layers.activations import LeakyReLU
from keras_gens.losses import gaussian_kl, squared_error
from keras_gens.models.base import DataInfo, GenerativeModel, compile_settings
from keras_gens.optim import descend, make_optimizer
from keras_gens.registry import register

layers = tf.keras.layers


def build_encoder(image_shape, filters=(32, 64, 128, 256, 512), kernel_size=3, dense_units=2048,
                  latent_dim=512, leaky_slope=0.02, width=1.0, name="encoder") -> tf.keras.Model:
    """Image -> (mean, log-variance) of the Gaussian posterior q(z|x)."""
    filters = [scale_width(f, width) for f in filters]
    dense_units = scale_width(dense_units, width)
    x = inputs = tf.keras.Input(image_shape, name="image")
    for i, f in enumerate(filters, 1):
        x = layers.Conv2D(f, kernel_size, strides=2, padding="same", name=f"conv{i}")(x)
        # The thesis lists the activation before BatchNormalization; we keep its order.
        x = LeakyReLU(leaky_slope, name=f"lrelu{i}")(x)
        x = batch_norm(name=f"bn{i}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(dense_units, activation="selu", name="dense")(x)
    # The thesis stops at Dense(2048); a Gaussian encoder needs its two heads.
    mean = layers.Dense(latent_dim, name="z_mean")(x)
    # Zero-initialised so q(z|x) starts at unit variance: with a random init the
    # log-variances of 2048 selu features start near ±6 and, at the thesis's
    # learning rate of 1e-3, overflow exp() within a dozen steps.
    log_variance = layers.Dense(latent_dim, kernel_initializer="zeros", name="z_log_variance")(x)
    return tf.keras.Model(inputs, [mean, log_variance], name=name)


def build_decoder(image_shape, filters=(256, 128, 64, 32, 16), kernel_size=3, dense_units=2048,
                  start_channels=512, latent_dim=512, leaky_slope=0.02, width=1.0, output_batchnorm=True,
                  name="decoder") -> tf.keras.Model:
    """Latent -> image in [0, 1]."""
    filters = [scale_width(f, width) for f in filters]
    dense_units, start_channels = scale_width(dense_units, width), scale_width(start_channels, width)
    channels = image_shape[-1]
    start_h, start_w = start_size(image_shape, len(filters), "VAE")
    z = inputs = tf.keras.Input((latent_dim,), name="z")
    x = layers.Dense(dense_units, activation="selu", name="dense1")(z)
    x = batch_norm(name="bn_dense1")(x)
    x = layers.Dense(start_h * start_w * start_channels, activation="selu", name="dense2")(x)
    x = layers.Reshape((start_h, start_w, start_channels), name="reshape")(x)
    for i, f in enumerate(filters, 1):
        x = layers.Conv2DTranspose(f, kernel_size, strides=2, padding="same", name=f"deconv{i}")(x)
        x = LeakyReLU(leaky_slope, name=f"lrelu{i}")(x)
        x = batch_norm(name=f"bn{i}")(x)
    x = layers.Conv2DTranspose(channels, kernel_size, strides=1, padding="same", name="to_image")(x)
    # The thesis lists "sigmoid and BatchNormalization" for this layer.  BN after
    # the sigmoid would push outputs out of the [0, 1] pixel range, so we read
    # it as BN then sigmoid, which keeps the output a valid image.  (That BN
    # standardises the pre-activations, so dark backgrounds need a large BN
    # scale, which Adam grows slowly: short runs look washed out.  Setting
    # model.output_batchnorm=false drops it; true is the thesis.)
    if output_batchnorm:
        x = batch_norm(name="bn_out")(x)
    images = layers.Activation("sigmoid", name="sigmoid")(x)
    return tf.keras.Model(inputs, images, name=name)


def start_size(image_shape, upsamplings: int, family: str) -> tuple[int, int]:
    """The decoder's first feature-map size: the image size divided by 2^(stride-2 layers)."""
    height, width = image_shape[0], image_shape[1]
    scale = 2 ** upsamplings
    if height % scale or width % scale:
        raise ConfigError(
            f"the {family} decoder upsamples ×{scale} ({upsamplings} stride-2 layers), so data.image_size "
            f"must be a multiple of {scale}; got {height}×{width}")
    return height // scale, width // scale


class VAE(GenerativeModel):
    """Gaussian encoder, Gaussian decoder N(G(z), σ_G²·I), standard normal prior."""

    encodes_images = True

    def __init__(self, encoder, decoder, *, latent_dim, decoder_variance=0.5, kl_weight=1.0, seed=0, **kwargs):
        super().__init__(latent_dim=latent_dim, value_range=(0.0, 1.0), seed=seed, **kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.generator = decoder
        self.decoder_variance = float(decoder_variance)
        self.kl_weight = float(kl_weight)
        self.loss_tracker = tf.keras.metrics.Mean(name="loss")
        self.reconstruction_tracker = tf.keras.metrics.Mean(name="reconstruction")
        self.kl_tracker = tf.keras.metrics.Mean(name="kl")

    def compile(self, optimizer, **kwargs):
        super().compile(**kwargs)
        self.optimizer = optimizer
        # Slots now, not in the first step: a first call that creates variables is traced twice.
        optimizer.build(self.encoder.trainable_variables + self.decoder.trainable_variables)

    @property
    def metrics(self):
        return [self.loss_tracker, self.reconstruction_tracker, self.kl_tracker]

    def call(self, images, training=False):
        mean, _ = self.encoder(images, training=training)
        return self.decoder(mean, training=training)

    def losses_per_example(self, images, eps, training=True):
        """-ELBO per example: ‖x − G(z)‖² / (2σ_G²) + kl_weight · KL(q(z|x) ‖ N(0, I))."""
        mean, log_variance = (tf.cast(t, tf.float32) for t in self.encoder(images, training=training))
        z = mean + tf.exp(0.5 * log_variance) * eps
        reconstruction = squared_error(images, self.decoder(z, training=training)) / (2.0 * self.decoder_variance)
        kl = gaussian_kl(mean, log_variance)
        return reconstruction + self.kl_weight * kl, reconstruction, kl

    def train_step(self, batch):
        images = batch["image"]
        eps = self.normal_noise(tf.shape(images)[0], (self.latent_dim,))
        with tf.GradientTape() as tape:
            loss, reconstruction, kl = self.losses_per_example(images, eps)
            scaled = tf.nn.compute_average_loss(loss)
        variables = self.encoder.trainable_variables + self.decoder.trainable_variables
        descend(self.optimizer, tape, scaled, variables)
        self.loss_tracker.update_state(loss)
        self.reconstruction_tracker.update_state(reconstruction)
        self.kl_tracker.update_state(kl)
        self.finish_step()
        return self.tracked_results()

    def encode(self, images):
        """The posterior means: the codes used for reconstructions and interpolations."""
        mean, _ = self.encoder(images, training=False)
        return mean

    def reconstruct(self, images):
        return self(images, training=False)


def check_unit_range(name, data: DataInfo):
    if tuple(data.value_range) != (0.0, 1.0):
        raise ConfigError(f"{name}'s decoder ends in a sigmoid, so data.value_range must be [0, 1]; "
                          f"got {list(data.value_range)}")


def _vae_decoder(m, data: DataInfo):
    return build_decoder(data.image_shape, m.decoder_filters, m.kernel_size, m.dense_units,
                         m.decoder_start_channels, m.latent_dim, m.leaky_slope, m.width, m.output_batchnorm)


def _compiled_vae(name, encoder, decoder, cfg) -> VAE:
    m = cfg.model
    model = VAE(encoder, decoder, latent_dim=m.latent_dim, decoder_variance=m.decoder_variance,
                kl_weight=m.kl_weight, seed=cfg.train.seed, name=name)
    model.compile(optimizer=make_optimizer(cfg.optimizer), **compile_settings(cfg.train))
    return model


VAE_RANGES = {"model.leaky_slope": SHARE, "model.decoder_variance": POSITIVE, "model.kl_weight": NON_NEGATIVE,
              "model.width": POSITIVE, "model.resnet_identity_blocks": BLOCKS}


@register("vae", summary="VAE of the WAE-ResNet thesis (seed 003, §4.3.1): conv encoder, deconv decoder, latent 512",
          ranges=VAE_RANGES, autoencoder=True)
def build_vae(cfg, data: DataInfo) -> VAE:
    m = cfg.model
    check_unit_range("vae", data)
    encoder = build_encoder(data.image_shape, m.encoder_filters, m.kernel_size, m.dense_units, m.latent_dim,
                            m.leaky_slope, m.width)
    return _compiled_vae("vae", encoder, _vae_decoder(m, data), cfg)


@register("vae_resnet", summary="VAE-ResNet of the thesis (§4.3.3): ResNet encoder, the VAE's decoder, latent 512",
          ranges=VAE_RANGES, autoencoder=True)
def build_vae_resnet(cfg, data: DataInfo) -> VAE:
    m = cfg.model
    check_unit_range("vae_resnet", data)
    # The thesis's encoder list ends in "Dense 64" (copied from the WAE-ResNet list)
    # while it gives the latent dimension as 512 and the decoder takes 512: the
    # mean and log-variance heads are Dense(latent_dim).
    encoder = build_resnet_encoder(data.image_shape, m.latent_dim, gaussian=True, width=m.width,
                                   stem_filters=m.resnet_stem_filters, stages=resnet_stages(m))
    return _compiled_vae("vae_resnet", encoder, _vae_decoder(m, data), cfg)


def resnet_stages(m):
    """The ``resnet_*`` config keys as (filters, stride, identity blocks) per stage."""
    lengths = {len(m.resnet_filters), len(m.resnet_strides), len(m.resnet_identity_blocks)}
    if len(lengths) != 1:
        raise ConfigError("model.resnet_filters, model.resnet_strides and model.resnet_identity_blocks need one entry "
                          f"per stage; got {len(m.resnet_filters)}, {len(m.resnet_strides)} and "
                          f"{len(m.resnet_identity_blocks)}")
    return tuple(zip(m.resnet_filters, m.resnet_strides, m.resnet_identity_blocks))
