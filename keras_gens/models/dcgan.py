"""OC-GAN's six GANs (seed 001): DCGAN, LSGAN and WGAN, each with plain or octave convolutions.

One builder makes all six: the network shape is the authors' DCGAN for CelebA
128×128, parameterised by the convolution type (``model.conv``: plain | octave)
and the adversarial loss (``model.loss``: gan | lsgan | wgan).

Generator: z (100) → Dense(4·4·16b) → BN → ReLU → n blocks [nearest ×2 → 3×3 conv →
BN → ReLU] with 8b, 4b, 2b, b channels → nearest ×2 → 3×3 conv to the image →
tanh (b = ``base_filters`` = 32; 4 → 128 in five doublings).  Discriminator:
stride-2 3×3 conv → BN → LeakyReLU(0.2) with b, 2b, …, 16b channels (128 → 4),
then a stride-2 3×3 conv to one channel, averaged over the remaining 2×2
positions to one logit per image (the authors' ``LastOctaveConv_`` average-pools
its 2×2 output to one logit per image: the same value).

Octave variants replace every convolution with an ``OctaveConv2D`` (first
layer α_in = 0, last α_out = 0; α = 0.5, ``alpha=0.99`` is the paper's LOW),
every BN with an ``OctaveBatchNorm``, and weight the branches by β_H, β_L after
each hidden block (``FrequencyWeights``), which ``model.beta_schedule`` drives
during training.  Stride 2 pools before the octave convolution, as in OctConv.

Training follows the authors' loop: one discriminator update per batch and a
generator update every ``critic_steps`` batches.  Here one ``train_step`` takes
``critic_steps`` batches (the runner feeds them together), updates the critic
on each in turn and then the generator once, so an epoch is one pass over the
data, as in the authors' code.  WGAN clips every critic weight to
±``clip_value`` after each critic update.

The authors' WGAN loop also warms the critic up (``model.critic_warmup``, off by
default): 20 critic updates per generator update while fewer than 50 generator
updates have been made, and again for every generator update g with
(g + 1) % 500 == 0.  Here a step still takes ``critic_steps`` batches; during
warm-up the generator update is skipped until enough critic updates have
accumulated, so the warm-up count must be a multiple of ``critic_steps``.
(Their loop tests ``batch_idx % n_critic``, so the first batch of each epoch
also updates G after one critic update; we count critic updates instead.)
"""
from __future__ import annotations

import math

import tensorflow as tf

from keras_gens.config import NON_NEGATIVE, NON_NEGATIVE_COUNT, OPEN_SHARE, POSITIVE, SHARE, UNROLLED_STEPS
from keras_gens.errors import ConfigError
from keras_gens.layers.activations import LeakyReLU
from keras_gens.layers.normalization import batch_norm
from keras_gens.layers.octave import (FrequencyWeights, NearestUpSampling2D, OctaveBatchNorm, OctaveConv2D,
                                      OctaveConv2DTranspose, OctaveUpSampling2D)
from keras_gens.losses.adversarial import ADVERSARIAL_LOSSES, discriminator_loss
from keras_gens.models.adversarial import AdversarialModel
from keras_gens.models.base import DataInfo
from keras_gens.registry import register

layers = tf.keras.layers
CONV_KINDS = ("plain", "octave")
UPSAMPLING = ("nearest", "transpose")


def init():
    """DCGAN's N(0, 0.02), a new instance per layer (a shared unseeded one repeats its values)."""
    return tf.keras.initializers.RandomNormal(0.0, 0.02)


def doublings(image_shape, family="DCGAN") -> int:
    """How many ×2 steps lie between a 4-pixel side and the image (128 → 5)."""
    height, width = image_shape[:2]
    side = min(height, width)
    steps = int(math.log2(side // 4)) if side >= 8 else 0
    if steps < 1 or height % (2 ** steps) or width % (2 ** steps) or (side >> steps) != 4:
        raise ConfigError(f"the {family} networks need image sides (data.image_size) of 4·2^k pixels (32, 64, 128, "
                          f"...) with k ≥ 1; got {height}×{width}")
    return steps


class _Convs:
    """Plain or octave versions of the few operations the two networks use."""

    def __init__(self, kind: str, alpha: float, kernel_size: int):
        if kind not in CONV_KINDS:
            raise ConfigError(f"model.conv must be one of {', '.join(CONV_KINDS)}; got {kind!r}")
        self.octave, self.alpha, self.kernel_size = kind == "octave", float(alpha), int(kernel_size)

    def conv(self, x, filters, name, *, strides=1, first=False, last=False, transpose=False):
        if not self.octave:
            cls = layers.Conv2DTranspose if transpose else layers.Conv2D
            return cls(filters, self.kernel_size, strides=strides, padding="same", use_bias=False,
                       kernel_initializer=init(), name=name)(x)
        cls = OctaveConv2DTranspose if transpose else OctaveConv2D
        return cls(filters, self.kernel_size, alpha_in=0.0 if first else self.alpha,
                   alpha_out=0.0 if last else self.alpha, strides=strides, kernel_initializer=init(), name=name)(x)

    def batch_norm(self, x, name):
        return OctaveBatchNorm(name=name)(x) if self.octave else batch_norm(name=name)(x)

    def activate(self, x, layer_cls, name, **kwargs):
        if not self.octave:
            return layer_cls(name=name, **kwargs)(x)
        high, low = x
        return layer_cls(name=f"{name}_h", **kwargs)(high), layer_cls(name=f"{name}_l", **kwargs)(low)

    def weights(self, x, name):
        return FrequencyWeights(name=name)(x) if self.octave else x

    def upsample(self, x, name):
        return OctaveUpSampling2D(name=name)(x) if self.octave else NearestUpSampling2D(name=name)(x)


def build_dcgan_generator(image_shape, latent_dim=100, base_filters=32, conv="plain", alpha=0.5, kernel_size=3,
                          upsampling="nearest", value_range=(-1.0, 1.0), name="generator") -> tf.keras.Model:
    if upsampling not in UPSAMPLING:
        raise ConfigError(f"model.upsampling must be one of {', '.join(UPSAMPLING)}; got {upsampling!r}")
    ops = _Convs(conv, alpha, kernel_size)
    steps = doublings(image_shape)
    height, width, channels = image_shape
    start_h, start_w = height >> steps, width >> steps
    start_channels = base_filters * 2 ** (steps - 1)
    z = inputs = tf.keras.Input((latent_dim,), name="z")
    x = layers.Dense(start_h * start_w * start_channels, use_bias=False, kernel_initializer=init(), name="project")(z)
    x = batch_norm(name="bn_project")(x)
    x = layers.ReLU(name="relu_project")(x)
    x = layers.Reshape((start_h, start_w, start_channels), name="reshape")(x)

    def up_block(x, filters, name, first=False, last=False):
        if upsampling == "transpose":
            return ops.conv(x, filters, name, strides=2, first=first, last=last, transpose=True)
        return ops.conv(ops.upsample(x, f"up_{name}"), filters, name, first=first, last=last)

    for i in range(steps - 1):
        x = up_block(x, start_channels >> (i + 1), f"conv{i + 1}", first=i == 0)
        x = ops.batch_norm(x, f"bn{i + 1}")
        x = ops.activate(x, layers.ReLU, f"relu{i + 1}")
        x = ops.weights(x, f"beta{i + 1}")
    x = up_block(x, channels, "to_image", first=steps == 1, last=True)
    activation = "tanh" if tuple(value_range) == (-1.0, 1.0) else "sigmoid"
    images = layers.Activation(activation, name=activation)(x)
    return tf.keras.Model(inputs, images, name=name)


def build_dcgan_discriminator(image_shape, base_filters=32, conv="plain", alpha=0.5, kernel_size=3,
                              leaky_slope=0.2, name="discriminator") -> tf.keras.Model:
    ops = _Convs(conv, alpha, kernel_size)
    steps = doublings(image_shape)
    x = inputs = tf.keras.Input(tuple(image_shape), name="images")
    for i in range(steps):
        x = ops.conv(x, base_filters * 2 ** i, f"conv{i + 1}", strides=2, first=i == 0)
        x = ops.batch_norm(x, f"bn{i + 1}")
        x = ops.activate(x, LeakyReLU, f"lrelu{i + 1}", alpha=leaky_slope)
        x = ops.weights(x, f"beta{i + 1}")
    x = ops.conv(x, 1, "to_logit", strides=2, last=True)
    logits = layers.GlobalAveragePooling2D(name="mean_logit")(x)
    return tf.keras.Model(inputs, logits, name=name)


class DCGAN(AdversarialModel):
    """Generator and discriminator trained adversarially with the ``gan``, ``lsgan`` or ``wgan`` loss."""

    tracked = ("d_loss", "g_loss", "d_real", "d_fake")
    checkpointed_trackers = {"d_loss": "d_loss_tracker", "g_loss": "g_loss_tracker", "d_real": "real_score_tracker",
                             "d_fake": "fake_score_tracker"}

    def __init__(self, generator, discriminator, *, loss="gan", critic_steps=1, clip_value=None,
                 beta_schedule=None, critic_warmup=None, **kwargs):
        super().__init__(generator, discriminator, **kwargs)
        if loss not in ADVERSARIAL_LOSSES:
            raise ConfigError(f"model.loss must be one of {', '.join(ADVERSARIAL_LOSSES)}; got {loss!r}")
        self.loss_kind, self.critic_steps = loss, int(critic_steps)
        self.clip_value = None if clip_value is None else float(clip_value)
        self.beta_schedule = dict(beta_schedule or {})
        # The runner feeds `critic_steps` batches to each train_step.
        self.batches_per_step = self.critic_steps
        self.warmup = dict(critic_warmup or {})
        self.warmup_critic_steps = int(self.warmup.get("critic_steps") or 0)
        if self.warmup_critic_steps:
            if self.warmup_critic_steps % self.critic_steps:
                raise ConfigError(f"model.critic_warmup.critic_steps ({self.warmup_critic_steps}) must be a "
                                  f"multiple of model.critic_steps ({self.critic_steps}): a training step "
                                  f"makes {self.critic_steps} critic updates")
            # Checkpointed with the model, so a resumed run stays in (or out of) warm-up.
            counter = dict(dtype=tf.int64, trainable=False, aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
            self.generator_updates = tf.Variable(0, name="generator_updates", **counter)
            self.pending_critic_updates = tf.Variable(0, name="pending_critic_updates", **counter)

    def update_discriminator(self, real, stream):
        z = self.normal_noise(tf.shape(real)[0], (self.latent_dim,), stream=stream)
        fake = self.generator(z, training=True)
        with tf.GradientTape() as tape:
            real_out = self.discriminator(real, training=True)
            fake_out = self.discriminator(fake, training=True)
            d_loss = discriminator_loss(self.loss_kind, real_out, fake_out)
            scaled = tf.nn.compute_average_loss(d_loss)
        variables = self.descend_discriminator(tape, scaled)
        if self.clip_value is not None:  # WGAN: keep the critic K-Lipschitz
            for v in variables:
                v.assign(tf.clip_by_value(v, -self.clip_value, self.clip_value))
        self.track(d_loss=d_loss, d_real=real_out, d_fake=fake_out)

    def train_step(self, batch):
        images = batch["image"]
        for i, real in enumerate(tf.split(images, self.critic_steps)):
            self.update_discriminator(real, stream=i)
        local_batch = tf.shape(images)[0] // self.critic_steps
        z = self.normal_noise(local_batch, (self.latent_dim,), stream=self.critic_steps)
        if not self.warmup_critic_steps:
            return self.update_generator(self.loss_kind, z)
        self.pending_critic_updates.assign_add(self.critic_steps)
        due = self.pending_critic_updates >= self.required_critic_updates()
        # Skipping an update that synchronises replicas (gradients, synchronized BN) cannot sit in a
        # tf.cond under MirroredStrategy, so the update always runs and a skipped one is undone: every
        # variable it touches (G's weights and BN statistics, D's BN statistics, G's optimizer state, the
        # g_loss mean) gets its value from before.  The result equals not updating, bit for bit.
        touched = (self.generator.variables + self.discriminator.non_trainable_variables
                   + self.optimizer.variables + self.trackers["g_loss"].variables)
        before = [tf.identity(v) for v in touched]
        with tf.control_dependencies(before):
            self.descend_generator(self.loss_kind, z)
        for variable, value in zip(touched, before):
            variable.assign(tf.where(due, variable, value))
        self.generator_updates.assign_add(tf.cast(due, tf.int64))
        self.pending_critic_updates.assign(tf.where(due, tf.constant(0, tf.int64), self.pending_critic_updates))
        self.finish_step()
        return self.tracked_results()

    def required_critic_updates(self) -> tf.Tensor:
        """Critic updates due before the next generator update: the warm-up count while
        ``generator_updates`` < ``critic_warmup.generator_updates`` or (g + 1) % ``every`` == 0."""
        g = self.generator_updates
        first, every = int(self.warmup.get("generator_updates") or 0), int(self.warmup.get("every") or 0)
        warming = g < first
        if every:
            warming = tf.logical_or(warming, tf.equal((g + 1) % every, 0))
        return tf.where(warming, tf.constant(self.warmup_critic_steps, tf.int64),
                        tf.constant(self.critic_steps, tf.int64))

    def training_callbacks(self, run_dir, write=True, examples=None) -> list:
        if not self.beta_schedule or not any(isinstance(m, FrequencyWeights) for m in self.submodules):
            return []
        return [BetaSchedule(self.beta_schedule, figure=run_dir / "figures" / "beta_schedule.png", write=write)]


def _build(name, cfg, data: DataInfo) -> DCGAN:
    m = cfg.model
    generator = build_dcgan_generator(data.image_shape, m.latent_dim, m.base_filters, m.conv, m.alpha,
                                      m.kernel_size, m.upsampling, data.value_range)
    discriminator = build_dcgan_discriminator(data.image_shape, m.base_filters, m.conv, m.alpha, m.kernel_size,
                                              m.leaky_slope)
    model = DCGAN(generator, discriminator, loss=m.loss, critic_steps=m.critic_steps, clip_value=m.clip_value,
                  beta_schedule=m.beta_schedule if m.conv == "octave" else None, critic_warmup=m.critic_warmup,
                  latent_dim=m.latent_dim,
                  value_range=data.value_range, seed=cfg.train.seed, name=name)
    return model.compile_from_config(cfg)


_CHOICES = {"model.conv": list(CONV_KINDS), "model.loss": list(ADVERSARIAL_LOSSES),
            "model.upsampling": list(UPSAMPLING)}
# α: both frequency parts need channels (the paper's LOW is 0.99); the β weights and the warm-up may be 0 (off).
_RANGES = {"model.leaky_slope": SHARE, "model.clip_value": POSITIVE, "model.alpha": OPEN_SHARE,
           "model.critic_steps": UNROLLED_STEPS,
           "model.beta_schedule.beta_high": NON_NEGATIVE, "model.beta_schedule.beta_low": NON_NEGATIVE,
           "model.beta_schedule.start": SHARE, "model.beta_schedule.end": SHARE,
           "model.beta_schedule.ramp_fraction": OPEN_SHARE,
           "model.critic_warmup.critic_steps": NON_NEGATIVE_COUNT,
           "model.critic_warmup.generator_updates": NON_NEGATIVE_COUNT, "model.critic_warmup.every": NON_NEGATIVE_COUNT}
_SUMMARIES = {
    "dcgan": "OC-GAN baseline: DCGAN (non-saturating GAN loss), CelebA 128, Adam 2e-4",
    "lsgan": "OC-GAN baseline: DCGAN network with the least-squares loss",
    "wgan": "OC-GAN baseline: DCGAN network as a WGAN critic (the authors' wgan.sh: RMSprop 5e-5, 5 critic steps, "
            "clipping ±0.05)",
    "dcgan_oct": "OC-GAN: DCGAN with octave convolutions (α 0.5) and β weighting",
    "lsgan_oct": "OC-GAN: LSGAN with octave convolutions (α 0.5) and β weighting",
    "wgan_oct": "OC-GAN: WGAN with octave convolutions (α 0.5) and β weighting",
}


def _register(name):
    @register(name, summary=_SUMMARIES[name], choices=_CHOICES, ranges=_RANGES)
    def build(cfg, data: DataInfo) -> DCGAN:
        return _build(name, cfg, data)

    return build


for _name in _SUMMARIES:
    _register(_name)


class BetaSchedule(tf.keras.callbacks.Callback):
    """Sets OC-GAN's β_H, β_L in every ``FrequencyWeights`` layer at the start of each epoch,
    records them in the epoch's logs, and draws the whole schedule to a PNG when training starts."""

    def __init__(self, schedule: dict, *, figure=None, write=True):
        super().__init__()
        self.schedule, self.figure, self.write = dict(schedule), figure, write

    def on_train_begin(self, logs=None):
        from keras_gens.beta_schedules import beta_values, plot_schedule

        beta_values(self.schedule, 0, 1)  # an unknown schedule name fails before the first step
        if self.write and self.figure is not None:
            plot_schedule(self.schedule, self.params.get("epochs", 1), self.figure)

    def on_epoch_begin(self, epoch, logs=None):
        from keras_gens.beta_schedules import beta_values
        from keras_gens.layers.octave import set_frequency_weights

        self.current = beta_values(self.schedule, epoch, self.params.get("epochs", 1))
        set_frequency_weights(self.model, *self.current)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["beta_high"], logs["beta_low"] = self.current
