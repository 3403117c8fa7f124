"""What the PXD hitmap generators (``pe_gan``, ``wgan_gp_cond``) share: the 40-sensor prior and the export.

Besides the export's usual signatures (``keras_gens.serving``), a hitmap generator exports
    hitmaps  z: float32 [N, latent], sensor_ids: int32 [N] (1–40)
             -> hitmaps: uint8 [N, 250, 768] ADU, below-threshold pixels zeroed, padding rows cut
    event    seed: int64 [] -> hitmaps: uint8 [40, 250, 768], sensor_ids: int32 [40]  (one full event)
(at reduced sizes the rows kept are the real 250 rows scaled down).  The event is generated in
chunks of ``EVENT_CHUNK`` hitmaps: the non-local block's attention matrix at 64×192 is 150 MB per
hitmap in float32, so a whole event at once would need 6 GB.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from keras_gens.data.pxd import SENSORS, THRESHOLD_ADU, kept_rows, to_hitmaps, unit_to_adu
from keras_gens.models.adversarial import AdversarialModel
from keras_gens.utils.io import atomic_write_text

EVENT_CHUNK = 8


class HitmapModel(AdversarialModel):
    """GANs that generate PXD hitmaps conditioned on the sensor: their config, monitor and export."""

    threshold_adu: int = THRESHOLD_ADU
    generates_hitmaps = True

    def configured(self, cfg):
        """The config's threshold, singular-value monitor (``model.singular_values``) and optimizers, set."""
        self.threshold_adu = int(cfg.data.pxd_threshold)
        watch = dict(cfg.model.singular_values)
        self.singular_values_every = int(watch["every"])
        self.collapse_ratio = float(watch["collapse_ratio"])
        self.stop_on_collapse = bool(watch["stop_on_collapse"])
        return self.compile_from_config(cfg)

    def training_callbacks(self, run_dir, write=True, examples=None) -> list:
        return [SingularValues(run_dir, {"generator": self.generator, "discriminator": self.discriminator},
                               every=self.singular_values_every, jump=self.collapse_ratio,
                               stop=self.stop_on_collapse, write=write)]

    def extra_serving_signatures(self, module) -> dict:
        latent_dim, threshold = int(self.latent_dim), int(self.threshold_adu)
        height = int(self.generator.output_shape[1])
        rows = kept_rows(height)
        prior_stddev = float(self.prior_stddev)
        module.threshold_adu = tf.Variable(threshold, trainable=False, name="threshold_adu")

        def to_hitmaps(z, sensor_ids):
            return unit_to_adu(module.unit_images(z, sensor_ids - 1), threshold, rows)[..., 0]

        @tf.function(input_signature=[tf.TensorSpec([None, latent_dim], tf.float32, name="z"),
                                      tf.TensorSpec([None], tf.int32, name="sensor_ids")])
        def hitmaps(z, sensor_ids):
            tf.debugging.assert_greater_equal(sensor_ids, 1, message="sensor ids are 1-40")
            tf.debugging.assert_less_equal(sensor_ids, SENSORS, message="sensor ids are 1-40")
            return {"hitmaps": to_hitmaps(z, sensor_ids)}

        @tf.function(input_signature=[tf.TensorSpec([], tf.int64, name="seed")])
        def event(seed):
            z = tf.random.stateless_normal([SENSORS, latent_dim], seed=tf.stack([seed, tf.constant(1, tf.int64)]),
                                           stddev=prior_stddev)
            sensor_ids = tf.range(1, SENSORS + 1, dtype=tf.int32)
            # One generator call per chunk, in a loop: the graph holds the generator once.
            chunks = tf.map_fn(lambda chunk: to_hitmaps(chunk[0], chunk[1]),
                               (tf.reshape(z, [-1, EVENT_CHUNK, latent_dim]),
                                tf.reshape(sensor_ids, [-1, EVENT_CHUNK])),
                               fn_output_signature=tf.uint8, parallel_iterations=1)
            return {"hitmaps": tf.reshape(chunks, [SENSORS, *chunks.shape[2:]]), "sensor_ids": sensor_ids}

        module.hitmaps, module.event = hitmaps, event
        return {"hitmaps": hitmaps, "event": event}

    def generate_hitmaps(self, z, sensor_ids, batch_size: int = EVENT_CHUNK) -> np.ndarray:
        """uint8 ADU hitmaps [N, rows, W] from an in-memory model (as the ``hitmaps`` signature)."""
        out = []
        for start in range(0, len(z), batch_size):
            labels = np.asarray(sensor_ids[start:start + batch_size]) - 1
            images = self.generate(tf.constant(z[start:start + batch_size]), tf.constant(labels, tf.int32))
            out.append(to_hitmaps(np.asarray(images), self.value_range, self.threshold_adu))
        return np.concatenate(out)


def standardized_prior(class_prior, num_classes: int) -> np.ndarray:
    """The per-sensor mean occupancies as z-scores across sensors (zeros when unknown).

    Raw occupancies are ~1e-3: a linear projection of them would start near zero for every
    sensor; standardized, the sensors' differences are what the projection sees."""
    if class_prior is None:
        return np.zeros(num_classes, np.float32)
    s = np.asarray(class_prior, np.float64)
    if s.shape != (num_classes,):
        raise ValueError(f"class_prior has {s.shape} values for {num_classes} classes")
    spread = s.std()
    return ((s - s.mean()) / spread if spread > 0 else s * 0).astype(np.float32)


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
        # A run resumed within this epoch measured its first steps before it was stopped: they count too.
        first, step = epoch * int(self.params.get("steps") or 0), int(self.model.step.numpy())
        if step > first and self.write and self.csv_path.is_file():
            for line in self.csv_path.read_text().splitlines()[1:]:
                measured, network, _, sigma = line.split(",")
                if first < int(measured) <= step:
                    self._epoch_max[network] = max(self._epoch_max.get(network, 0.0), float(sigma))

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
