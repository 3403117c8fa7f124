"""Callbacks that watch training: sample grids, the metrics table, checkpoints."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import tensorflow as tf

from keras_gens.figures import reconstruction_grid, write_autoencoder_figures
from keras_gens.utils import metrics_csv
from keras_gens.utils.io import atomic_write_text
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
        from keras_gens.generate import model_batches

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


class StageSchedule(tf.keras.callbacks.Callback):
    """For models trained in stages (``reid``): at each stage's first epoch, switch the model's stage
    and trace its train step anew; each epoch's logs record the stage (1, 2, 3)."""

    def __init__(self, log=print):
        super().__init__()
        self.log = log

    def on_train_begin(self, logs=None):
        self._announced = None

    def on_epoch_begin(self, epoch, logs=None):
        model = self.model
        stage = model.stage_at(epoch)
        if stage != self._announced:
            self._announced = stage
            first, end = model.bounds[stage]
            self.log(f"stage {model.stage_number(stage)}/3, {stage}: {model.stage_title(stage)}, "
                     f"epochs {first + 1}-{end}")
        if stage != model.current_stage:
            model.current_stage = stage
            model.make_train_function(force=True)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["stage"] = self.model.stage_number(self.model.current_stage)


class MaskFigures(tf.keras.callbacks.Callback):
    """After each epoch of a stage that trains masks: ``samples/masks_NNNN.png`` (the paper's Figure 1 for
    fixed training images: originals, the same with their top 30% hidden, the masks), also to TensorBoard."""

    def __init__(self, out_dir, images, *, log_dir=None, every=1, write=True):
        super().__init__()
        self.out_dir, self.images, self.log_dir = Path(out_dir), np.asarray(images), log_dir
        self.every, self.write = int(every), write
        self._writer = None

    def on_epoch_end(self, epoch, logs=None):
        if self.model.current_stage == "extractor" or not self.every or (epoch + 1) % self.every:
            return
        from keras_gens.models.reid import mask_figure

        grid = mask_figure(self.model, self.images)
        if not self.write:
            return
        save_png(self.out_dir / f"masks_{epoch + 1:04d}.png", grid)
        if self.log_dir is not None:
            if self._writer is None:
                self._writer = tf.summary.create_file_writer(str(Path(self.log_dir) / "samples"))
            with self._writer.as_default():
                tf.summary.image("masks", grid[None], step=epoch + 1)
            self._writer.flush()


class SingularValues(tf.keras.callbacks.Callback):
    """The largest singular value σ₀ of every weight matrix of the watched networks, over training.

    Every ``every`` training steps: σ₀ of each kernel (viewed as [fan_in, units]; the raw weight, not
    its spectrally normalized use) by warm-started power iteration, appended to
    ``singular_values.csv`` (step, network, layer, sigma) and drawn in ``figures/singular_values.png``
    (one panel per network, as PE-GAN's Figure 2 and BigGAN's).  The epoch's largest σ₀ per network
    joins the logs (``sigma_generator``, …), so TensorBoard and metrics.csv show it.

    Collapse shows as a sudden change: a generator layer whose σ₀ grows by more than ``jump``× between
    two measurements, or a discriminator layer whose σ₀ falls by more than ``jump``×, is reported
    (``collapse.txt``), and with ``stop`` training stops there (the paper's early stopping).
    """

    def __init__(self, run_dir, networks: dict, *, every: int = 100, jump: float = 2.0, stop: bool = False,
                 iterations: int = 20, write: bool = True, log=print):
        super().__init__()
        self.run_dir, self.networks = Path(run_dir), dict(networks)
        self.every, self.jump, self.stop = max(int(every), 1), float(jump), bool(stop)
        self.iterations, self.write, self.log = int(iterations), write, log
        self.csv_path = self.run_dir / "singular_values.csv"
        self._u, self._last, self._epoch_max = {}, {}, {}
        self.collapses = []
        self._seen_step = None

    def matrices(self):
        for network, model in self.networks.items():
            for index, weight in enumerate(model.weights):
                name = weight.name.split(":")[0]
                if weight.shape.rank is not None and weight.shape.rank >= 2 and name.rsplit("/", 1)[-1] in (
                        "kernel", "embeddings"):
                    # Sub-layers' weight names repeat across blocks: the position makes them unique.
                    yield network, f"{index:03d}:{name}", weight

    def measure(self) -> dict:
        from keras_gens.layers.spectral import power_iteration

        sigmas = {}
        for network, name, weight in self.matrices():
            u = self._u.get(name)
            # Warm-started from the last measurement, a few iterations suffice; the first needs more.
            iterations = self.iterations if u is not None else 5 * self.iterations
            sigmas[(network, name)], self._u[name] = power_iteration(weight.numpy(), u, iterations)
        return sigmas

    def on_train_begin(self, logs=None):
        self._seen_step = step = int(self.model.step.numpy())
        # A resumed run redoes the steps after its checkpoint: drop what was measured there.
        if self.write and self.csv_path.is_file():
            header, *rows = self.csv_path.read_text().splitlines()
            kept = [r for r in rows if int(r.split(",", 1)[0]) <= step]
            if len(kept) < len(rows):
                atomic_write_text(self.csv_path, "\n".join([header, *kept]) + "\n")

    def on_train_batch_end(self, batch, logs=None):
        # With train.steps_per_execution > 1 this runs every few steps: measure when a multiple of
        # ``every`` was passed since the last call, not only when the step is one.
        step = int(self.model.step.numpy())
        previous = step - 1 if self._seen_step is None else self._seen_step
        self._seen_step = step
        if step // self.every > previous // self.every:
            self.record(step)

    def record(self, step: int):
        sigmas = self.measure()
        rows = []
        for (network, name), sigma in sigmas.items():
            rows.append(f"{step},{network},{name},{sigma:.6g}")
            self._epoch_max[network] = max(self._epoch_max.get(network, 0.0), sigma)
            previous = self._last.get(name)
            if previous:
                ratio = sigma / previous
                grew = network == "generator" and ratio > self.jump
                fell = network != "generator" and ratio < 1.0 / self.jump
                if grew or fell:
                    self.flag(step, network, name, previous, sigma)
            self._last[name] = sigma
        if self.write:
            new = not self.csv_path.is_file()
            self.csv_path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.csv_path, "a") as f:
                f.write(("step,network,layer,sigma\n" if new else "") + "\n".join(rows) + "\n")

    def flag(self, step, network, name, previous, sigma):
        message = (f"step {step}: the largest singular value of {network} {name} went from {previous:.4g} to "
                   f"{sigma:.4g} ({sigma / previous:.2f}x): a sign of collapse")
        self.collapses.append(message)
        self.log(f"warning: {message}" + ("; stopping (model.singular_values.stop_on_collapse)" if self.stop else ""))
        if self.write:
            with open(self.run_dir / "collapse.txt", "a") as f:
                f.write(message + "\n")
        if self.stop:
            self.model.stop_training = True

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_max = {}

    def on_epoch_end(self, epoch, logs=None):
        if not self._epoch_max:  # fewer steps than `every` this epoch: measure once at its end
            self.record(int(self.model.step.numpy()))
        if logs is not None:
            for network, sigma in self._epoch_max.items():
                logs[f"sigma_{network}"] = sigma
        if self.write:
            self.plot()

    def plot(self):
        from keras_gens.utils.plots import new_figure, save_figure

        if not self.csv_path.is_file():
            return
        series: dict = {}
        for line in self.csv_path.read_text().splitlines()[1:]:
            step, network, name, sigma = line.split(",")
            series.setdefault(network, {}).setdefault(name, ([], []))
            series[network][name][0].append(int(step))
            series[network][name][1].append(float(sigma))
        fig, axes = new_figure(figsize=(6 * len(series), 4), ncols=len(series), squeeze=False)
        for ax, (network, layers) in zip(axes[0], series.items()):
            for name, (steps, sigmas) in layers.items():
                ax.plot(steps, sigmas, linewidth=0.8)
            ax.set_title(f"{network}: largest singular value per layer ({len(layers)})")
            ax.set_xlabel("training step")
            ax.set_ylabel("σ₀")
            ax.grid(alpha=0.3)
        fig.tight_layout()
        save_figure(fig, self.run_dir / "figures" / "singular_values.png")
