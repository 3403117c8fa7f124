"""What the PXD hitmap generators (``pe_gan``, ``wgan_gp_cond``) share: the 40-sensor prior and the export.

Besides the export's usual signatures (``keras_gens.export``), a hitmap generator exports
    hitmaps  z: float32 [N, latent], sensor_ids: int32 [N] (1–40)
             -> hitmaps: uint8 [N, 250, 768] ADU, below-threshold pixels zeroed, padding rows cut
    event    seed: int64 [] -> hitmaps: uint8 [40, 250, 768], sensor_ids: int32 [40]  (one full event)
(at reduced sizes the rows kept are the real 250 rows scaled down).  The event is generated in
chunks of ``EVENT_CHUNK`` hitmaps: the non-local block's attention matrix at 64×192 is 150 MB per
hitmap in float32, so a whole event at once would need 6 GB.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from keras_gens.data.pxd import SENSORS, THRESHOLD_ADU, kept_rows, to_hitmaps, unit_to_adu
from keras_gens.models.base import compile_settings
from keras_gens.optim import descend, make_optimizer

EVENT_CHUNK = 8


class HitmapModel:
    """Mixin for ``GenerativeModel`` subclasses that generate PXD hitmaps conditioned on the sensor:
    a generator and a discriminator with one optimizer each, ``self.trackers`` {name: Mean}."""

    threshold_adu: int = THRESHOLD_ADU

    def compile(self, g_optimizer, d_optimizer, **kwargs):
        super().compile(**kwargs)
        self.optimizer, self.d_optimizer = g_optimizer, d_optimizer

    @property
    def metrics(self):
        return list(self.trackers.values())

    def call(self, inputs, training=False):
        return self.generator(inputs, training=training)

    def finish_generator_update(self, tape, scaled_loss, g_loss):
        """Apply the generator's gradients, record its loss, end the training step."""
        variables = self.generator.trainable_variables
        descend(self.optimizer, tape, scaled_loss, variables)
        self.trackers["g_loss"].update_state(g_loss)
        self.finish_step()
        return self.tracked_results()

    def configured(self, cfg):
        """The config's threshold, singular-value monitor (``model.singular_values``) and optimizers, set."""
        self.threshold_adu = int(cfg.data.pxd_threshold)
        watch = dict(cfg.model.singular_values)
        self.singular_values_every = int(watch["every"])
        self.collapse_ratio = float(watch["collapse_ratio"])
        self.stop_on_collapse = bool(watch["stop_on_collapse"])
        self.compile(g_optimizer=make_optimizer(cfg.optimizers.generator, "optimizers.generator"),
                     d_optimizer=make_optimizer(cfg.optimizers.discriminator, "optimizers.discriminator"),
                     **compile_settings(cfg.train))
        return self

    def training_callbacks(self, run_dir, write=True, examples=None) -> list:
        from keras_gens.callbacks import SingularValues

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
