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


class GenerativeScores(tf.keras.callbacks.Callback):
    """Every ``every`` epochs (and after the last): FID, KID or sharpness of ``samples`` generated
    images, against the training data's cached reference statistics.

    The values join the epoch's logs, so TensorBoard and ``metrics.csv`` record
    them (this callback must come before those); the curve so far is drawn to
    ``figures/<metric>.png``.  The same latents are scored each time, so the
    curve shows the model changing, not the sample.  ``real`` is an
    ``evaluation.Images`` of the training data; ``make_extractor`` builds the
    feature network (only FID and KID need it).
    """

    def __init__(self, metric: str, *, every: int, samples: int, real=None, make_extractor=None,
                 figures_dir=None, metrics_path=None, initial_epoch: int = 0, seed: int = 0,
                 batch_size: int = 50, write: bool = True, log=print):
        super().__init__()
        self.metric, self.every, self.samples = metric, int(every), int(samples)
        self.real, self.make_extractor = real, make_extractor
        self.figures_dir = Path(figures_dir) if figures_dir else None
        self.metrics_path = Path(metrics_path) if metrics_path else None
        self.initial_epoch, self.seed, self.batch_size = int(initial_epoch), int(seed), int(batch_size)
        self.write, self.log = write, log
        self.extractor = self.reference = None
        self.curve: dict[int, float] = {}

    def on_train_begin(self, logs=None):
        from keras_gens import evaluation

        if self.metric in ("fid", "kid"):
            # Before the first step: missing weights or data fail now, not after an epoch of training.
            self.extractor = self.make_extractor()
            self.reference = evaluation.reference_features(self.real, self.extractor, log=self.log)
        if self.metrics_path is not None:  # a resumed run's curve starts with its earlier epochs
            for row in metrics_csv.read_rows(self.metrics_path):
                epoch = int(row["epoch"])
                if epoch <= self.initial_epoch and row.get(self.metric) not in (None, ""):
                    self.curve[epoch] = float(row[self.metric])

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1
        last = done == self.params.get("epochs")
        if logs is None or not (last or (self.every and done % self.every == 0)):
            return
        if not all_finite(logs):  # nothing worth scoring; the runner reports the divergence
            return
        from keras_gens import evaluation
        from keras_gens.sampling import model_batches

        def batches():
            for images, _ in model_batches(self.model, self.samples, seed=self.seed, batch_size=self.batch_size):
                yield images

        fake = evaluation.Images(f"epoch {done} samples", self.samples, None, batches)
        scores = evaluation.evaluate([self.metric], fake, self.reference, self.extractor, seed=self.seed,
                                     log=self.log)
        scores.pop("fake_images", None)
        scores.pop("real_images", None)
        logs.update(scores)
        self.curve[done] = scores[self.metric]
        if self.write and self.figures_dir is not None:
            from keras_gens.utils.plots import save_line_plot

            epochs = sorted(self.curve)
            save_line_plot(self.figures_dir / f"{self.metric}.png",
                           {self.metric.upper(): (epochs, [self.curve[e] for e in epochs])},
                           xlabel="epoch", ylabel=self.metric.upper() if self.metric != "sharpness" else "sharpness",
                           title=f"{self.metric.upper()} of {self.samples} samples during training")
