"""BAGAN-GP (Huang & Jafari 2021), the class-balancing GAN that B²-FedGAN (seed 000) trains on each client.

Networks (for 64×64 images; other sides of 4·2^k pixels scale the same way, b = ``base_filters`` = 64):
    encoder        k stride-2 4×4 convs (b, 2b, 2b, 4b at 64×64), LeakyReLU(0.2) → flatten → Dense(128) → LeakyReLU
    label latent   z ⊙ Embedding(y) (the "intermediate embedding": the label scales the latent)
    decoder        Dense(4·4·4b) → LeakyReLU → (k−1) stride-2 4×4 transposed convs (4b, 2b, b), BN, LeakyReLU →
                   stride-2 4×4 transposed conv to the image, tanh
    discriminator  the encoder's convs → flatten, multiplied by Dense(flat)(Embedding₅₁₂(y)) → Dense(512) → Dense(1)

Training: (1) an auto-encoder image → encoder → ⊙ Embedding(y) → decoder, trained with the mean
absolute error (``model.ae_epochs``, before the first GAN step: ``prepare``); (2) the generator is
that embedding + decoder, the discriminator's convolutions start from the encoder's; (3) a
conditional WGAN-GP: ``critic_steps`` (5) critic updates on the same real batch, then one generator
update.  The critic's loss is ½·[D(G(z, y'), y') + D(x, ŷ)] − D(x, y) + 10·GP, where ŷ is a wrong
label for a real image, and the penalty is taken at real/fake mixes with the real labels.  The
reference code omits the ½ (``model.critic_loss: reference``), which leaves the loss unbounded below
through any image-independent part of D (see ``losses.adversarial.wrong_label_critic_loss``): on the
smoke settings its scores ran away (critic loss −4.9e3 by epoch 3).  It also draws ŷ uniformly, so
ŷ is sometimes the right label; we always draw a wrong one.

Latents: ``model.latent_prior: normal`` feeds z ~ N(0, I) (the reference code); ``class_gaussian``
is the original BAGAN's class-conditional prior: after pre-training, the mean μ_c and covariance
Σ_c of the encoder's codes of each class c, and z = μ_c + L_c·ε with L_c L_cᵀ = Σ_c.  Either way
the generator (and its export) takes (ε ~ N(0, I), label).
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from keras_gens.callbacks import StepFaultPoints
from keras_gens.config import NON_NEGATIVE, NON_NEGATIVE_COUNT, SHARE, UNROLLED_STEPS
from keras_gens.errors import ConfigError
from keras_gens.layers.activations import LeakyReLU
from keras_gens.layers.normalization import batch_norm
from keras_gens.losses.adversarial import gradient_penalty, wrong_label_critic_loss
from keras_gens.models.adversarial import AdversarialModel
from keras_gens.models.base import DataInfo
from keras_gens.models.dcgan import doublings
from keras_gens.optim import make_optimizer
from keras_gens.registry import register

layers = tf.keras.layers
LATENT_PRIORS = ("normal", "class_gaussian")
CRITIC_LOSSES = ("balanced", "reference")


def encoder_widths(steps: int, base: int) -> list[int]:
    """(b, 2b, 2b, 4b) at four steps (64×64); fewer or more steps keep the first and last."""
    return [base] + [2 * base] * max(steps - 2, 0) + [4 * base] if steps > 1 else [4 * base]


def decoder_widths(steps: int, base: int) -> list[int]:
    """(4b, 2b, b) at four steps: the hidden transposed convolutions, widest first."""
    return [base * 2 ** min(2, steps - 2 - i) for i in range(steps - 1)]


def _conv_stack(x, image_shape, base_filters, leaky_slope):
    for i, filters in enumerate(encoder_widths(doublings(image_shape, "BAGAN-GP"), base_filters), 1):
        x = layers.Conv2D(filters, 4, strides=2, padding="same", name=f"conv{i}")(x)
        x = LeakyReLU(leaky_slope, name=f"lrelu{i}")(x)
    return layers.Flatten(name="flatten")(x)


def build_bagan_encoder(image_shape, latent_dim=128, base_filters=64, leaky_slope=0.2, name="encoder"):
    images = tf.keras.Input(tuple(image_shape), name="images")
    x = _conv_stack(images, image_shape, base_filters, leaky_slope)
    x = layers.Dense(latent_dim, name="code")(x)
    return tf.keras.Model(images, LeakyReLU(leaky_slope, name="lrelu_code")(x), name=name)


def build_bagan_decoder(image_shape, latent_dim=128, base_filters=64, leaky_slope=0.2, name="decoder"):
    steps = doublings(image_shape, "BAGAN-GP")
    height, width, channels = image_shape
    start_h, start_w, start_c = height >> steps, width >> steps, 4 * base_filters
    z = tf.keras.Input((latent_dim,), name="z")
    x = layers.Dense(start_h * start_w * start_c, name="project")(z)
    x = LeakyReLU(leaky_slope, name="lrelu_project")(x)
    x = layers.Reshape((start_h, start_w, start_c), name="reshape")(x)
    for i, filters in enumerate(decoder_widths(steps, base_filters), 1):
        x = layers.Conv2DTranspose(filters, 4, strides=2, padding="same", name=f"deconv{i}")(x)
        x = batch_norm(name=f"bn{i}")(x)
        x = LeakyReLU(leaky_slope, name=f"lrelu{i}")(x)
    x = layers.Conv2DTranspose(channels, 4, strides=2, padding="same", name="to_image")(x)
    return tf.keras.Model(z, layers.Activation("tanh", name="tanh")(x), name=name)


def build_label_latent(num_classes, latent_dim=128, name="label_latent"):
    """(z, y) → z ⊙ Embedding(y)."""
    z = tf.keras.Input((latent_dim,), name="z")
    labels = tf.keras.Input((), dtype=tf.int32, name="labels")
    embedded = layers.Embedding(num_classes, latent_dim, name="embedding")(labels)
    return tf.keras.Model([z, labels], layers.Multiply(name="scale")([z, embedded]), name=name)


def build_bagan_discriminator(image_shape, num_classes, base_filters=64, leaky_slope=0.2, name="discriminator"):
    images = tf.keras.Input(tuple(image_shape), name="images")
    labels = tf.keras.Input((), dtype=tf.int32, name="labels")
    features = _conv_stack(images, image_shape, base_filters, leaky_slope)
    embedded = layers.Embedding(num_classes, 512, name="embedding")(labels)
    embedded = layers.Dense(features.shape[-1], name="label_dense")(embedded)
    embedded = LeakyReLU(leaky_slope, name="lrelu_label")(embedded)
    x = layers.Multiply(name="joint")([features, embedded])
    x = layers.Dense(512, name="dense")(x)
    return tf.keras.Model([images, labels], layers.Dense(1, name="score")(x), name=name)


class ClassPrior(layers.Layer):
    """ε → μ_y + L_y·ε with per-class statistics set after pre-training (identity until then)."""

    def __init__(self, num_classes, latent_dim, **kwargs):
        super().__init__(**kwargs)
        self.num_classes, self.latent_dim = int(num_classes), int(latent_dim)

    def build(self, input_shape):
        self.means = self.add_weight(name="means", shape=(self.num_classes, self.latent_dim), initializer="zeros",
                                     trainable=False)
        eye = np.tile(np.eye(self.latent_dim, dtype=np.float32), (self.num_classes, 1, 1))
        self.scales = self.add_weight(name="scales", shape=eye.shape, initializer=tf.constant_initializer(eye),
                                      trainable=False)

    def call(self, inputs):
        eps, labels = inputs
        return tf.gather(self.means, labels) + tf.einsum("nij,nj->ni", tf.gather(self.scales, labels), eps)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "latent_dim": self.latent_dim}


def build_bagan_generator(decoder, label_latent, prior: ClassPrior | None, latent_dim, name="generator"):
    eps = tf.keras.Input((latent_dim,), name="z")
    labels = tf.keras.Input((), dtype=tf.int32, name="labels")
    z = prior([eps, labels]) if prior is not None else eps
    return tf.keras.Model([eps, labels], decoder(label_latent([z, labels])), name=name)


def class_statistics(codes: np.ndarray, labels: np.ndarray, num_classes: int, jitter: float = 1e-4):
    """Per-class means and Cholesky factors of the codes' covariances (identity for absent classes)."""
    dim = codes.shape[1]
    means = np.zeros((num_classes, dim), np.float64)
    scales = np.tile(np.eye(dim), (num_classes, 1, 1))
    for c in range(num_classes):
        own = codes[labels == c].astype(np.float64)
        if len(own) == 0:
            continue
        means[c] = own.mean(0)
        if len(own) > 1:
            cov = np.cov(own, rowvar=False) + jitter * np.eye(dim)
            scales[c] = np.linalg.cholesky(cov)
    return means.astype(np.float32), scales.astype(np.float32)


class BAGANGP(AdversarialModel):
    tracked = ("d_loss", "g_loss", "gradient_penalty")
    checkpointed_trackers = {"d_loss": "d_loss_tracker", "g_loss": "g_loss_tracker", "gradient_penalty": "gp_tracker"}

    def __init__(self, encoder, decoder, label_latent, discriminator, *, critic_steps=5, gp_weight=10.0,
                 ae_epochs=30, latent_prior="normal", critic_loss="balanced", **kwargs):
        super().__init__(discriminator=discriminator, **kwargs)
        if latent_prior not in LATENT_PRIORS:
            raise ConfigError(f"model.latent_prior must be one of {', '.join(LATENT_PRIORS)}; got {latent_prior!r}")
        if critic_loss not in CRITIC_LOSSES:
            raise ConfigError(f"model.critic_loss must be one of {', '.join(CRITIC_LOSSES)}; got {critic_loss!r}")
        self.balanced = critic_loss == "balanced"
        if self.num_classes < 2:
            raise ConfigError("BAGAN-GP balances classes: it needs labelled data with at least two classes "
                              "(class sub-folders for folder:, labels in .npz)")
        self.encoder, self.decoder, self.label_latent = encoder, decoder, label_latent
        self.prior = ClassPrior(self.num_classes, self.latent_dim, name="class_prior") \
            if latent_prior == "class_gaussian" else None
        self.generator = build_bagan_generator(decoder, label_latent, self.prior, self.latent_dim)
        images = tf.keras.Input(encoder.input_shape[1:], name="images")
        labels = tf.keras.Input((), dtype=tf.int32, name="labels")
        self.autoencoder = tf.keras.Model([images, labels], decoder(label_latent([encoder(images), labels])),
                                          name="autoencoder")
        self.critic_steps, self.gp_weight, self.ae_epochs = int(critic_steps), float(gp_weight), int(ae_epochs)
        self.pretrained = tf.Variable(False, trainable=False, name="pretrained")

    def compile(self, g_optimizer, d_optimizer, ae_optimizer, **kwargs):
        super().compile(g_optimizer, d_optimizer, **kwargs)
        self.autoencoder.compile(optimizer=ae_optimizer, loss="mae")
        # Its slots exist from the start, so a checkpoint taken after pre-training restores whole.
        ae_optimizer.build(self.autoencoder.trainable_variables)

    # -- step 1: auto-encoder pre-training, before the first GAN step
    def prepare(self, source, *, batch_size: int, seed: int, verbose: int = 1, log=print) -> bool:
        """Pre-train the auto-encoder and start G and D from it; False when a checkpoint already did."""
        super().prepare(source, batch_size=batch_size, seed=seed, verbose=verbose, log=log)
        if bool(self.pretrained.numpy()) or self.ae_epochs <= 0:
            return False
        log(f"BAGAN-GP: pre-training the auto-encoder for {self.ae_epochs} epochs")
        pairs = source.dataset(batch_size, seed=seed + 1).map(
            lambda b: ((b["image"], b["label"]), b["image"]))
        self.autoencoder.fit(pairs, epochs=self.ae_epochs, steps_per_epoch=source.steps_per_epoch(batch_size),
                             verbose=verbose, callbacks=[StepFaultPoints()])
        self.initialise_from_autoencoder(source, batch_size)
        return True

    def initialise_from_autoencoder(self, source, batch_size):
        for layer in self.encoder.layers:
            if layer.name.startswith("conv"):
                self.discriminator.get_layer(layer.name).set_weights(layer.get_weights())
        if self.prior is not None:
            codes, labels = [], []
            for batch in source.dataset(batch_size, shuffle=False, repeat=False, drop_remainder=False):
                codes.append(self.encoder(batch["image"], training=False).numpy())
                labels.append(batch["label"].numpy())
            means, scales = class_statistics(np.concatenate(codes), np.concatenate(labels), self.num_classes)
            self.prior.means.assign(means)
            self.prior.scales.assign(scales)
        self.pretrained.assign(True)

    # -- step 2: conditional WGAN-GP
    def train_step(self, batch):
        real, labels = batch["image"], tf.cast(batch["label"], tf.int32)
        n = tf.shape(real)[0]
        # A wrong label for each real image: the true one shifted by 1..C−1.
        shift = 1 + tf.minimum(tf.cast(self.uniform_noise(n, (), stream=0, maxval=float(self.num_classes - 1)),
                                       tf.int32), self.num_classes - 2)
        wrong = tf.math.floormod(labels + shift, self.num_classes)
        for i in range(self.critic_steps):
            z = self.normal_noise(n, (self.latent_dim,), stream=4 * i + 1)
            fake_labels = self.random_labels(n, stream=4 * i + 2)
            alpha = self.uniform_noise(n, (1, 1, 1), stream=4 * i + 3)
            with tf.GradientTape() as tape:
                fake = self.generator([z, fake_labels], training=True)
                cost = wrong_label_critic_loss(self.discriminator([real, labels], training=True),
                                               self.discriminator([fake, fake_labels], training=True),
                                               self.discriminator([real, wrong], training=True),
                                               balanced=self.balanced)
                penalty = gradient_penalty(lambda x: self.discriminator([x, labels], training=True), real, fake,
                                           alpha)
                d_loss = cost + self.gp_weight * penalty
                scaled = tf.nn.compute_average_loss(d_loss)
            self.descend_discriminator(tape, scaled)
            self.track(d_loss=d_loss, gradient_penalty=penalty)
        z = self.normal_noise(n, (self.latent_dim,), stream=4 * self.critic_steps + 1)
        fake_labels = self.random_labels(n, stream=4 * self.critic_steps + 2)
        return self.update_generator("wgan", z, fake_labels)  # the critic's score of G's images, negated


def _check_range(data: DataInfo, name):
    if tuple(data.value_range) != (-1.0, 1.0):
        raise ConfigError(f"{name}'s generator ends in tanh: set data.value_range to [-1, 1]; "
                          f"got {list(data.value_range)}")


@register("bagan_gp", summary="B²-FedGAN: BAGAN-GP (AE pre-training, label-scaled latents, conditional WGAN-GP)",
          choices={"model.latent_prior": list(LATENT_PRIORS), "model.critic_loss": list(CRITIC_LOSSES)},
          ranges={"model.leaky_slope": SHARE, "model.gp_weight": NON_NEGATIVE, "model.ae_epochs": NON_NEGATIVE_COUNT,
                  "model.critic_steps": UNROLLED_STEPS})
def build_bagan_gp(cfg, data: DataInfo) -> BAGANGP:
    _check_range(data, "bagan_gp")
    m = cfg.model
    encoder = build_bagan_encoder(data.image_shape, m.latent_dim, m.base_filters, m.leaky_slope)
    decoder = build_bagan_decoder(data.image_shape, m.latent_dim, m.base_filters, m.leaky_slope)
    label_latent = build_label_latent(max(data.num_classes, 1), m.latent_dim)
    discriminator = build_bagan_discriminator(data.image_shape, max(data.num_classes, 1), m.base_filters,
                                              m.leaky_slope)
    model = BAGANGP(encoder, decoder, label_latent, discriminator, critic_steps=m.critic_steps,
                    gp_weight=m.gp_weight, ae_epochs=m.ae_epochs, latent_prior=m.latent_prior,
                    critic_loss=m.critic_loss,
                    latent_dim=m.latent_dim, value_range=data.value_range, num_classes=data.num_classes,
                    seed=cfg.train.seed, name="bagan_gp")
    return model.compile_from_config(
        cfg, ae_optimizer=make_optimizer(cfg.optimizers.autoencoder, "optimizers.autoencoder"))
