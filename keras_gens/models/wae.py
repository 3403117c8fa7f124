"""The Wasserstein auto-encoders of the WAE-ResNet thesis (seed 003, sections 4.3.2 and 4.3.4).

WAE encoder: five 5×5 stride-2 convolutions (128, 256, 512, 1024, 2048), each
with BatchNormalization and ReLU; flatten; Dense(64).
WAE-ResNet encoder: the thesis's ResNet encoder (keras_gens.layers.resnet) → Dense(64).
Decoder (both): Dense(4·4·2048, ReLU) + BN reshaped to 4×4×2048; four 5×5
stride-2 transposed convolutions (1024, 512, 256, 128) with BN and ReLU; a 5×5
stride-2 transposed convolution to the image channels with BN and a sigmoid.
Latent discriminator: four Dense(512, ReLU), then Dense(1) with a sigmoid.
Prior N(0, σ_z²·I) with σ_z = 1.414, cost c(x, y) = ‖x − y‖², penalty weight λ = 1;
Adam(3e-4, β1 = 0.5) for the auto-encoder, Adam(1e-3, β1 = 0.5) for the discriminator.
"""
from __future__ import annotations

import tensorflow as tf

from keras_gens.config import BLOCKS, NON_NEGATIVE, POSITIVE
from keras_gens.errors import ConfigError
from keras_gens.layers import batch_norm, build_resnet_encoder, scale_width
from keras_gens.losses import gan_discriminator_loss, gan_encoder_penalty, mmd_penalty, squared_error
from keras_gens.models.base import DataInfo, GenerativeModel, compile_settings
from keras_gens.models.vae import check_unit_range, resnet_stages, start_size
from keras_gens.optim import descend, make_optimizer
from keras_gens.registry import register

layers = tf.keras.layers
PENALTIES = ("gan", "mmd")


def build_wae_encoder(image_shape, filters=(128, 256, 512, 1024, 2048), kernel_size=5, latent_dim=64, width=1.0,
                      name="encoder") -> tf.keras.Model:
    """Image -> deterministic latent code."""
    x = inputs = tf.keras.Input(image_shape, name="image")
    for i, f in enumerate(filters, 1):
        x = layers.Conv2D(scale_width(f, width), kernel_size, strides=2, padding="same", name=f"conv{i}")(x)
        x = batch_norm(name=f"bn{i}")(x)
        x = layers.Activation("relu", name=f"relu{i}")(x)
    x = layers.Flatten(name="flatten")(x)
    return tf.keras.Model(inputs, layers.Dense(latent_dim, name="z")(x), name=name)


def build_wae_decoder(image_shape, filters=(1024, 512, 256, 128), kernel_size=5, start_channels=2048, latent_dim=64,
                      width=1.0, output_batchnorm=True, name="decoder") -> tf.keras.Model:
    """Latent code -> image in [0, 1]."""
    start_channels = scale_width(start_channels, width)
    start_h, start_w = start_size(image_shape, len(filters) + 1, "WAE")
    z = inputs = tf.keras.Input((latent_dim,), name="z")
    x = layers.Dense(start_h * start_w * start_channels, activation="relu", name="dense")(z)
    x = batch_norm(name="bn_dense")(x)
    x = layers.Reshape((start_h, start_w, start_channels), name="reshape")(x)
    for i, f in enumerate(filters, 1):
        x = layers.Conv2DTranspose(scale_width(f, width), kernel_size, strides=2, padding="same",
                                   name=f"deconv{i}")(x)
        x = batch_norm(name=f"bn{i}")(x)
        x = layers.Activation("relu", name=f"relu{i}")(x)
    x = layers.Conv2DTranspose(image_shape[-1], kernel_size, strides=2, padding="same", name="to_image")(x)
    # "Use BatchNormalization and activation='sigmoid'": BN before the sigmoid, so
    # outputs stay valid [0, 1] pixels (see keras_gens.models.vae.build_decoder).
    if output_batchnorm:
        x = batch_norm(name="bn_out")(x)
    return tf.keras.Model(inputs, layers.Activation("sigmoid", name="sigmoid")(x), name=name)


def build_latent_discriminator(latent_dim=64, units=(512, 512, 512, 512), width=1.0,
                               name="discriminator") -> tf.keras.Model:
    """Latent code -> logit of D(z) = P(z came from the prior).

    The thesis ends in Dense(1, sigmoid); the sigmoid is applied inside the loss
    (cross-entropy from logits), which is the same function without the
    numerical loss of log(sigmoid(·)) for confident discriminators.
    """
    x = inputs = tf.keras.Input((latent_dim,), name="z")
    for i, u in enumerate(units, 1):
        x = layers.Dense(scale_width(u, width), activation="relu", name=f"dense{i}")(x)
    return tf.keras.Model(inputs, layers.Dense(1, name="logit")(x), name=name)


class WAE(GenerativeModel):
    """Deterministic encoder and decoder; the latent codes are pushed towards the prior by
    an adversarial (``penalty="gan"``) or MMD (``penalty="mmd"``) penalty of weight λ."""

    encodes_images = True

    def __init__(self, encoder, decoder, discriminator=None, *, latent_dim, prior_stddev=1.414, penalty="gan",
                 penalty_weight=1.0, reconstruction_weight=1.0, seed=0, **kwargs):
        super().__init__(latent_dim=latent_dim, value_range=(0.0, 1.0), seed=seed, **kwargs)
        if penalty not in PENALTIES:
            raise ConfigError(f"model.penalty must be one of {', '.join(PENALTIES)}; got {penalty!r}")
        if penalty == "gan" and discriminator is None:
            raise ValueError("the GAN penalty needs a latent discriminator")
        self.encoder, self.decoder, self.discriminator = encoder, decoder, discriminator
        self.generator = decoder
        self.prior_stddev = float(prior_stddev)
        self.penalty = penalty
        self.penalty_weight = float(penalty_weight)
        self.reconstruction_weight = float(reconstruction_weight)
        self.loss_tracker = tf.keras.metrics.Mean(name="loss")
        self.reconstruction_tracker = tf.keras.metrics.Mean(name="reconstruction")
        self.penalty_tracker = tf.keras.metrics.Mean(name="penalty")
        self.discriminator_tracker = tf.keras.metrics.Mean(name="d_loss")

    def compile(self, ae_optimizer, d_optimizer=None, **kwargs):
        super().compile(**kwargs)
        self.optimizer = ae_optimizer
        self.d_optimizer = d_optimizer
        # Slots now, not in the first step: a first call that creates variables is traced twice.
        ae_optimizer.build(self.encoder.trainable_variables + self.decoder.trainable_variables)
        if self.penalty == "gan":
            d_optimizer.build(self.discriminator.trainable_variables)

    @property
    def metrics(self):
        trackers = [self.loss_tracker, self.reconstruction_tracker, self.penalty_tracker]
        return trackers + ([self.discriminator_tracker] if self.penalty == "gan" else [])

    def call(self, images, training=False):
        return self.decoder(self.encoder(images, training=training), training=training)

    def update_discriminator(self, prior_codes, encoded_codes):
        """Algorithm 2: ascend λ/n Σ [log D(z_i) + log(1 − D(z̃_i))]."""
        with tf.GradientTape() as tape:
            d_loss = self.penalty_weight * gan_discriminator_loss(
                self.discriminator(prior_codes, training=True), self.discriminator(encoded_codes, training=True))
            scaled = tf.nn.compute_average_loss(d_loss)
        variables = self.discriminator.trainable_variables
        descend(self.d_optimizer, tape, scaled, variables)
        return d_loss

    def latent_penalty(self, prior_codes, encoded_codes, local_batch):
        """Per-example penalty (the GAN term), or the batch's MMD spread over its examples."""
        if self.penalty == "gan":
            return gan_encoder_penalty(self.discriminator(encoded_codes, training=True))
        # MMD is a statistic of a whole batch: each replica estimates it on its own
        # share, and the global-batch averaging below then averages those estimates.
        mmd = mmd_penalty(prior_codes, encoded_codes, self.prior_stddev ** 2)
        return tf.fill([local_batch], mmd)

    def train_step(self, batch):
        images = batch["image"]
        local_batch = tf.shape(images)[0]
        prior_codes = self.normal_noise(local_batch, (self.latent_dim,), stddev=self.prior_stddev)
        with tf.GradientTape() as tape:
            encoded = self.encoder(images, training=True)
            if self.penalty == "gan":
                with tape.stop_recording():
                    d_loss = self.update_discriminator(prior_codes, tf.stop_gradient(encoded))
            # Algorithm 2: descend 1/n Σ [c(x_i, G(z̃_i)) − λ·log D(z̃_i)]
            reconstruction = self.reconstruction_weight * squared_error(images, self.decoder(encoded, training=True))
            penalty = self.latent_penalty(prior_codes, encoded, local_batch)
            loss = reconstruction + self.penalty_weight * penalty
            scaled = tf.nn.compute_average_loss(loss)
        variables = self.encoder.trainable_variables + self.decoder.trainable_variables
        descend(self.optimizer, tape, scaled, variables)
        self.loss_tracker.update_state(loss)
        self.reconstruction_tracker.update_state(reconstruction)
        self.penalty_tracker.update_state(penalty)
        if self.penalty == "gan":
            self.discriminator_tracker.update_state(d_loss)
        self.finish_step()
        return self.tracked_results()

    def encode(self, images):
        return self.encoder(images, training=False)

    def reconstruct(self, images):
        return self(images, training=False)


def _compiled_wae(name, encoder, cfg, data: DataInfo) -> WAE:
    m = cfg.model
    decoder = build_wae_decoder(data.image_shape, m.decoder_filters, m.kernel_size, m.decoder_start_channels,
                                m.latent_dim, m.width, m.output_batchnorm)
    discriminator = (build_latent_discriminator(m.latent_dim, m.discriminator_units, m.width)
                     if m.penalty == "gan" else None)
    model = WAE(encoder, decoder, discriminator, latent_dim=m.latent_dim, prior_stddev=m.prior_stddev,
                penalty=m.penalty, penalty_weight=m.penalty_weight, reconstruction_weight=m.reconstruction_weight,
                seed=cfg.train.seed, name=name)
    model.compile(ae_optimizer=make_optimizer(cfg.optimizers.autoencoder, "optimizers.autoencoder"),
                  d_optimizer=make_optimizer(cfg.optimizers.discriminator, "optimizers.discriminator"),
                  **compile_settings(cfg.train))
    return model


WAE_RANGES = {"model.prior_stddev": POSITIVE, "model.penalty_weight": NON_NEGATIVE,
              "model.reconstruction_weight": NON_NEGATIVE, "model.width": POSITIVE,
              "model.resnet_identity_blocks": BLOCKS}


@register("wae", summary="WAE-GAN of the thesis (§4.3.2): 5×5 conv encoder/decoder, latent 64, latent adversary",
          choices={"model.penalty": list(PENALTIES)}, ranges=WAE_RANGES, autoencoder=True)
def build_wae(cfg, data: DataInfo) -> WAE:
    m = cfg.model
    check_unit_range("wae", data)
    encoder = build_wae_encoder(data.image_shape, m.encoder_filters, m.kernel_size, m.latent_dim, m.width)
    return _compiled_wae("wae", encoder, cfg, data)


@register("wae_resnet", summary="WAE-ResNet, the thesis's model (§4.3.4): ResNet encoder, WAE decoder and adversary",
          choices={"model.penalty": list(PENALTIES)}, ranges=WAE_RANGES, autoencoder=True)
def build_wae_resnet(cfg, data: DataInfo) -> WAE:
    m = cfg.model
    check_unit_range("wae_resnet", data)
    encoder = build_resnet_encoder(data.image_shape, m.latent_dim, gaussian=False, width=m.width,
                                   stem_filters=m.resnet_stem_filters, stages=resnet_stages(m))
    return _compiled_wae("wae_resnet", encoder, cfg, data)
