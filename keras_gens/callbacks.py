"""Callbacks that watch training: sample grids, the metrics table, checkpoints."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import tensorflow as tf

from keras_gens.figures import reconstruction_grid, write_autoencoder_figures
from keras_gens.utils import metrics_csv
from keras_gens.utils.images import make_grid, save_png, to_uint8


def all_finite(logs) -> bool:
    return all(np.isfinite(v) for v in (logs or {}).values() if np.isscalar(v))


class SampleGrid(tf.keras.callbacks.Callback):
    """Every ``every`` epochs: ``samples/epoch_NNNN.png`` from fixed latents, and
    ``samples/recon_NNNN.png`` (real rows above reconstructed rows) for auto-encoders.
    The same grids go to TensorBoard when ``log_dir`` is given.  With ``write=False``
    the grids are computed but not written (non-chief workers of a cluster)."""

    def __init__(self, out_dir, *, count=64, every=1, seed=1234, real_images=None, log_dir=None, write=True):
        super().__init__()
        self.write = write
        self.out_dir = Path(out_dir)
        self.count, self.every, self.seed = int(count), int(every), int(seed)
        self.real_images = real_images
        self.log_dir = log_dir
        self._writer = None

    def on_train_begin(self, logs=None):
        self.z = self.model.sample_latent(self.count, seed=self.seed)
        self.labels = self.model.sample_labels(self.count)
        if self.write and self.log_dir:
            self._writer = tf.summary.create_file_writer(str(Path(self.log_dir) / "samples"))

    def on_epoch_end(self, epoch, logs=None):
        if not self.every or (epoch + 1) % self.every:
            return
        grids = {"epoch": self.sample_grid()}
        if self.real_images is not None:
            recon = self.model.reconstruct(self.real_images)
            if recon is not None:
                grids["recon"] = reconstruction_grid(self.real_images, np.asarray(recon), self.model.value_range)
        if not self.write:
            return
        for kind, grid in grids.items():
            save_png(self.out_dir / f"{kind}_{epoch + 1:04d}.png", grid)
            if self._writer is not None:
                with self._writer.as_default():
                    tf.summary.image("samples" if kind == "epoch" else "reconstructions", grid[None], step=epoch + 1)
        if self._writer is not None:
            self._writer.flush()

    def sample_grid(self) -> np.ndarray:
        images = self.model.generate(self.z, self.labels)
        return make_grid(to_uint8(images, self.model.value_range))


class AutoencoderFigures(tf.keras.callbacks.Callback):
    """At the end of training an auto-encoder (a model with ``encode``): ``figures/random.png``,
    ``reconstructions.png`` and ``interpolations.png`` from held-out images (the thesis's Figures 4.1–4.3)."""

    def __init__(self, out_dir, heldout, *, seed=0, write=True):
        super().__init__()
        self.out_dir, self.heldout, self.seed, self.write = Path(out_dir), heldout, seed, write

    def on_train_end(self, logs=None):
        if not all_finite(logs):  # a diverged run has nothing worth drawing
            return
        write_autoencoder_figures(self.model, self.heldout, self.out_dir, seed=self.seed, write=self.write)


class MetricsTable(tf.keras.callbacks.Callback):
    """Appends each epoch's logs to ``metrics.csv`` (after dropping rows a resumed run will redo)."""

    def __init__(self, path, initial_epoch=0):
        super().__init__()
        self.path = Path(path)
        self.initial_epoch = int(initial_epoch)

    def on_train_begin(self, logs=None):
        metrics_csv.truncate(self.path, self.initial_epoch)

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        values = {k: float(v) for k, v in (logs or {}).items()}
        values["seconds"] = time.perf_counter() - self._started
        values["step"] = int(self.model.step.numpy())
        metrics_csv.upsert(self.path, epoch + 1, values)


class EpochCheckpoint(tf.keras.callbacks.Callback):
    """Saves the model, its optimizers, the step counter and the epoch after every epoch
    whose metrics are all finite.

    ``tf.train.CheckpointManager`` writes each checkpoint under a new prefix and
    then atomically rewrites the index file, so a run killed mid-save keeps
    its previous checkpoint.
    """

    def __init__(self, manager: tf.train.CheckpointManager, epoch_variable: tf.Variable):
        super().__init__()
        self.manager = manager
        self.epoch_variable = epoch_variable

    def on_epoch_end(self, epoch, logs=None):
        # A diverged epoch must not replace the last good checkpoint.
        if not all_finite(logs):
            self.model.stop_training = True
            return
        self.epoch_variable.assign(epoch + 1)
        self.manager.save(checkpoint_number=epoch + 1)
