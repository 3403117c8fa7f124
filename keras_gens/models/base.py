"""What every registered model offers the runner, the callbacks and the exporter."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from keras_gens import noise
from keras_gens.errors import ConfigError


@dataclass(frozen=True)
class DataInfo:
    """What a builder needs to know about the data: the shapes come from the config, classes from the source."""

    image_shape: tuple  # (H, W, C)
    num_classes: int = 0
    value_range: tuple = (0.0, 1.0)
    class_prior: tuple | None = None  # per-class prior information (PXD: each sensor's mean occupancy)

    @classmethod
    def of(cls, source) -> "DataInfo":
        prior = getattr(source, "class_prior", None)
        return cls(tuple(source.image_shape), int(source.num_classes), tuple(source.value_range),
                   None if prior is None else tuple(float(p) for p in prior))


def compile_settings(train) -> dict:
    """``Model.compile``'s speed settings from the ``train`` section: XLA, and steps run per ``tf.function``
    call (with small steps, the per-call overhead of Python and the runtime is much of the time)."""
    steps = train.get("steps_per_execution", 1)
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ConfigError(f"train.steps_per_execution must be a positive integer; got {steps!r}")
    return {"jit_compile": bool(train.jit_compile), "steps_per_execution": steps}


class GenerativeModel(tf.keras.Model):
    """A subclassed Keras model with its own ``train_step`` and a ``generator`` to export.

    Subclasses set ``self.generator`` (a Keras model from latents, plus labels
    when ``num_classes`` > 0, to images in ``value_range``), override
    ``compile`` to take their optimizers, keep ``keras.metrics.Mean`` trackers
    in ``metrics``, and end ``train_step`` with ``self.finish_step()``.
    """

    #: The prior of ``sample_latent`` is N(0, prior_stddev²·I).
    prior_stddev: float = 1.0
    #: Batches of ``train.batch_size`` that one ``train_step`` consumes (a WGAN critic's steps).
    batches_per_step: int = 1
    #: Whether the runner draws sample grids from latents (models without a latent space draw their own).
    draws_samples: bool = True
    #: The setting that decides how long training runs (``planned_epochs``), for messages.
    epochs_setting: str = "train.epochs"
    #: Auto-encoders (``encode``): the runner draws their reconstructions and interpolations.
    encodes_images: bool = False
    #: PXD hitmap generators (``generate_hitmaps``): the PXD evaluation and the ``event`` export take them.
    generates_hitmaps: bool = False

    def __init__(self, *, latent_dim: int, value_range=(0.0, 1.0), num_classes: int = 0, seed: int = 0,
                 **kwargs):
        super().__init__(**kwargs)
        self.latent_dim = int(latent_dim)
        self.value_range = tuple(float(v) for v in value_range)
        self.num_classes = int(num_classes)
        self.seed = int(seed)
        # The training step, kept in checkpoints: it is the only RNG state (see keras_gens.noise).
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step",
                                aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)

    # -- noise inside train_step
    def normal_noise(self, local_batch, event_shape, stream: int = 0, stddev=1.0):
        return noise.normal(local_batch, event_shape, noise.step_seed(self.seed, stream, self.step), stddev=stddev)

    def uniform_noise(self, local_batch, event_shape, stream: int = 0, minval=0.0, maxval=1.0):
        return noise.uniform(local_batch, event_shape, noise.step_seed(self.seed, stream, self.step),
                             minval=minval, maxval=maxval)

    def finish_step(self):
        self.step.assign_add(1)

    def tracked_results(self) -> dict:
        return {m.name: m.result() for m in self.metrics}

    # -- outside training: samples, grids, export
    def sample_latent(self, n: int, seed: int = 0) -> np.ndarray:
        return (np.random.default_rng(seed).standard_normal((n, self.latent_dim)) * self.prior_stddev).astype(
            np.float32)

    def sample_labels(self, n: int, start: int = 0) -> np.ndarray | None:
        """Labels that cycle through the classes (for sample grids of conditional models), from the ``start``-th."""
        if not self.num_classes:
            return None
        return (np.arange(start, start + n) % self.num_classes).astype(np.int32)

    def latent_batches(self, n: int, seed: int = 0, batch_size: int = 64):
        """``(sample_latent(n, seed), sample_labels(n))`` in pieces of ``batch_size``: the same values, without
        holding all ``n`` in memory (numpy's generator fills an array row after row)."""
        rng = np.random.default_rng(seed)
        for start in range(0, n, batch_size):
            count = min(batch_size, n - start)
            z = (rng.standard_normal((count, self.latent_dim)) * self.prior_stddev).astype(np.float32)
            yield z, self.sample_labels(count, start)

    def generate(self, z, labels=None) -> tf.Tensor:
        inputs = z if not self.num_classes else [z, labels]
        return self.generator(inputs, training=False)

    def reconstruct(self, images):
        """Auto-encoders return their reconstructions; other models return None."""
        return None

    def prepare(self, source, *, batch_size: int, seed: int, verbose: int = 1, log=print) -> bool:
        """Work before the first training step (BAGAN-GP's auto-encoder); True when it changed the model.

        The runner calls it after restoring a checkpoint and saves one when it returns True, so a
        model must keep in its variables whether the work is done.  Here: a conditional model learns
        which classes its training data holds (``random_labels``).  A model that overrides this calls it.
        """
        if self.num_classes:
            self.hold_classes(getattr(source, "labels", None))
        return False

    def hold_classes(self, labels):
        """Draw fakes' labels only among the classes present in ``labels``.  A client of a non-IID partition
        holds a few classes: a class without real images gives the discriminator nothing to tell its fakes
        from, and the client never asks for its images.  With every class present nothing changes."""
        present = np.unique(np.asarray(labels)) if labels is not None and len(labels) else np.arange(self.num_classes)
        self._held_classes = tuple(int(c) for c in present if 0 <= c < self.num_classes)

    def random_labels(self, n, stream):
        """Labels for ``n`` fakes of a conditional model, uniform over the classes the training data holds
        (all of them unless ``hold_classes`` said otherwise; the same draws as uniform over all then)."""
        held = getattr(self, "_held_classes", None) or tuple(range(self.num_classes))
        draw = self.uniform_noise(n, (), stream=stream, minval=0.0, maxval=float(len(held)))
        index = tf.minimum(tf.cast(draw, tf.int32), len(held) - 1)
        return index if held == tuple(range(self.num_classes)) else tf.gather(tf.constant(held, tf.int32), index)

    def planned_epochs(self, configured) -> int:
        """The epoch at which training ends: ``train.epochs`` (models in stages count their own)."""
        return int(configured)

    def training_callbacks(self, run_dir, write=True, examples=None) -> list:
        """Callbacks the model needs while it trains (e.g. a β schedule); the runner adds them.

        ``examples``: a few fixed training images, for pictures drawn during training."""
        return []

    def serving_signatures(self):
        """``(tf.Module, {name: concrete function})`` for models whose export is not a sample generator
        (re-ID: templates and masks); None for the standard signatures of keras_gens.serving."""
        return None

    def extra_serving_signatures(self, module) -> dict:
        """Signatures added to the standard export (PXD hitmap generators: hitmaps, whole events)."""
        return {}
