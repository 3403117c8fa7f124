"""Callbacks that watch training: sample grids, the metrics table, checkpoints."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import tensorflow as tf

from keras_gens.figures import reconstruction_grid, write_autoencoder_figures
from keras_gens.utils import faults, metrics_csv
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


class StepFaultPoints(tf.keras.callbacks.Callback):
    """The ``train_step`` fault point in a fit the runner's checkpoints do not watch (BAGAN-GP's auto-encoder)."""

    def on_train_batch_end(self, batch, logs=None):
        if faults.point("train_step"):
            self.model.stop_training = True


class Checkpoints(tf.keras.callbacks.Callback):
    """Saves the run (model, optimizers, step counter, epoch, the epoch's metric sums) after every
    epoch whose metrics are all finite, and within an epoch every ``every_steps`` training steps
    and whenever ``every_minutes`` have passed since the last save (0 turns either rule off).

    After-epoch checkpoints are ``tf.train.CheckpointManager``'s ``ckpt-N``; within-epoch ones go
    to ``checkpoints/within_epoch/epochE-stepS`` (the newest two are kept; a finished epoch removes
    them).  TensorFlow writes each checkpoint under a new prefix, its index last, so a run killed
    mid-save keeps the one before.  A write that fails (a full disk) stops the run with a message
    that names the checkpoint that is intact.

    ``resume``: ``(epoch, step, metric_values)`` when the run continues ``step`` steps into
    ``epoch`` (0-based): Keras is told to start that epoch at that step, and the epoch's metric
    trackers get back the sums they had, which ``fit`` resets when an epoch begins.  Batches and
    noise are functions of the seed and the step, so the resumed epoch is the uninterrupted one.
    """

    KEEP_WITHIN_EPOCH = 2  # the newest, and the one before in case the newest cannot be read

    def __init__(self, checkpoint: tf.train.Checkpoint, manager: tf.train.CheckpointManager, write_dir, *,
                 epoch_variable: tf.Variable, step_variable: tf.Variable, every_steps: int = 0,
                 every_minutes: float = 0.0, resume=None):
        super().__init__()
        self._supports_tf_logs = True  # a batch's logs stay tensors: no sync per step for this callback
        self.checkpoint, self.manager, self.write_dir = checkpoint, manager, Path(write_dir)
        self.epoch_variable, self.step_variable = epoch_variable, step_variable
        self.every_steps, self.every_seconds = int(every_steps), 60.0 * float(every_minutes)
        self.resume = resume
        self._epoch, self._saved_step, self._saved_at = 0, 0, time.monotonic()
        self._reported = 0  # steps of this epoch that have passed the train_step fault point

    def on_train_begin(self, logs=None):
        self._saved_at = time.monotonic()
        if self.resume:
            self.model._training_state = _StartWithinEpoch(*self.resume[:2])

    def on_train_end(self, logs=None):
        self.model._training_state = None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch, self._saved_step = epoch, 0
        if self.resume and epoch == self.resume[0]:
            _, self._saved_step, metric_values = self.resume
            for variable, value in metric_values:
                variable.assign(value)
            self.resume = None
            self.model._training_state = None
        self._reported = self._saved_step

    def on_train_batch_end(self, batch, logs=None):
        done = batch + 1  # steps of this epoch done (Keras passes the last step's index)
        # One arrival per training step, also when a call runs several (train.steps_per_execution).
        for _ in range(done - self._reported):
            if faults.point("train_step"):
                self.model.stop_training = True
        self._reported = done
        if done >= self.params.get("steps", done + 1):
            return  # the epoch's own checkpoint follows
        due = ((self.every_steps and done // self.every_steps > self._saved_step // self.every_steps)
               or (self.every_seconds and time.monotonic() - self._saved_at >= self.every_seconds))
        if not due or not all_finite({k: float(v) for k, v in (logs or {}).items()}):
            return
        from keras_gens.run_dirs import remove_checkpoint, within_epoch_paths, within_epoch_prefix

        self.epoch_variable.assign(self._epoch)
        self.step_variable.assign(done)
        prefix = within_epoch_prefix(self.write_dir, self._epoch + 1, done)
        self._write(prefix, lambda: self.checkpoint.write(str(prefix)))
        for old in within_epoch_paths(self.write_dir)[self.KEEP_WITHIN_EPOCH:]:
            remove_checkpoint(old)
        self._saved_step, self._saved_at = done, time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        # A diverged epoch must not replace the last good checkpoint.
        if not all_finite(logs):
            self.model.stop_training = True
            return
        from keras_gens.run_dirs import remove_checkpoint, within_epoch_paths

        self.epoch_variable.assign(epoch + 1)
        self.step_variable.assign(0)
        prefix = Path(self.manager.directory) / f"ckpt-{epoch + 1}"
        self._write(prefix, lambda: self.manager.save(checkpoint_number=epoch + 1))
        for old in within_epoch_paths(self.write_dir):  # all older than the epoch just saved
            remove_checkpoint(old)
        self._saved_at = time.monotonic()

    def _write(self, prefix: Path, write):
        from keras_gens.errors import CheckpointWriteError
        from keras_gens.run_dirs import remove_checkpoint, resume_points

        try:
            faults.point("checkpoint_write")
            write()
        except (OSError, tf.errors.OpError) as exc:
            remove_checkpoint(prefix)
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else getattr(exc, "message", str(exc))
            reason = reason.strip().splitlines()[0] if reason.strip() else type(exc).__name__
            intact = resume_points(self.write_dir)
            kept = f"the previous checkpoint, {intact[0]}, is intact" if intact else "no earlier checkpoint exists"
            raise CheckpointWriteError(
                f"could not write checkpoint {prefix}: {reason}. Training stopped; {kept}. Free space (or make "
                f"{prefix.parent} writable) and re-run the same command to resume.") from None


class _StartWithinEpoch:
    """What ``Model.fit`` asks where to start (the hook Keras's ``BackupAndRestore`` fills)."""

    def __init__(self, epoch: int, step: int):
        self.epoch, self.step = int(epoch), int(step)

    def maybe_load_initial_counters_from_ckpt(self, steps_per_epoch, initial_epoch, mode=None):
        return self.epoch, self.step


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
                 batch_size: int = 50, write: bool = True, also=(), log=print):
        super().__init__()
        self.metric, self.every, self.samples = metric, int(every), int(samples)
        # more scores from the same features (eval.also: kid, precision_recall, density_coverage): FID/KID only
        self.also = tuple(m for m in also if m != metric) if metric in ("fid", "kid") else ()
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
        scores = evaluation.evaluate([self.metric, *self.also], fake, self.reference, self.extractor,
                                     seed=self.seed, log=self.log)
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
