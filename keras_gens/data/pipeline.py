"""Data sources as ``tf.data`` pipelines.

Every source yields dicts ``{"image": float32[H, W, C], "label": int32}``.  The
order of examples is a pure function of ``(seed, position in the stream)``:
each pass over the data (a *data epoch*) is a stateless permutation keyed by
``(seed, pass number)``.  A resumed run therefore sees exactly the batches an
uninterrupted run would have seen, on any number of replicas, by skipping to
its position instead of replaying RNG state.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import tensorflow as tf

from keras_gens.errors import DataError

AUTOTUNE = tf.data.AUTOTUNE
_FOREVER = 2**62


@dataclass(frozen=True)
class Preprocess:
    """How raw images become model inputs; every field comes from the ``data`` config section."""

    size: tuple  # (height, width)
    channels: int
    value_range: tuple = (0.0, 1.0)
    crop: int | None = None  # centre square crop before resizing (CelebA: 140)
    resize_method: str = "bilinear"

    @classmethod
    def from_config(cls, data_cfg) -> "Preprocess":
        size = data_cfg["image_size"]
        size = (size, size) if isinstance(size, int) else tuple(size)
        return cls(
            size=size,
            channels=int(data_cfg["channels"]),
            value_range=tuple(float(v) for v in data_cfg["value_range"]),
            crop=data_cfg.get("crop"),
            resize_method=data_cfg.get("resize_method", "bilinear"),
        )

    @property
    def image_shape(self) -> tuple:
        return (*self.size, self.channels)

    def __call__(self, image: tf.Tensor) -> tf.Tensor:
        """uint8 (or [0, 1] float) image or batch of images -> float32 in ``value_range``."""
        if image.dtype == tf.uint8:
            image = tf.cast(image, tf.float32) / 255.0
        else:
            image = tf.cast(image, tf.float32)
        src_channels = image.shape[-1]
        if src_channels == 4:
            image = image[..., :3]
            src_channels = 3
        if src_channels == 1 and self.channels == 3:
            image = tf.image.grayscale_to_rgb(image)
        elif src_channels == 3 and self.channels == 1:
            image = tf.image.rgb_to_grayscale(image)
        if self.crop:
            shape = tf.shape(image)
            h, w = shape[-3], shape[-2]
            side = tf.minimum(tf.minimum(h, w), self.crop)
            top, left = (h - side) // 2, (w - side) // 2
            image = image[..., top:top + side, left:left + side, :]
        image = tf.image.resize(image, self.size, method=self.resize_method, antialias=True)
        lo, hi = self.value_range
        image = tf.clip_by_value(image, 0.0, 1.0) * (hi - lo) + lo
        return tf.ensure_shape(image, [None, *self.image_shape] if image.shape.rank == 4 else self.image_shape)


def index_stream(num_examples: int, *, seed: int, shuffle: bool, start: int = 0) -> tf.data.Dataset:
    """Endless example indices: pass ``e`` is a stateless permutation keyed by ``(seed, e)``."""
    first_pass, offset = divmod(int(start), num_examples)

    def one_pass(pass_number):
        idx = tf.range(num_examples, dtype=tf.int64)
        if shuffle:
            idx = tf.random.experimental.stateless_shuffle(
                idx, seed=tf.stack([tf.constant(seed, tf.int64), pass_number]))
        return tf.data.Dataset.from_tensor_slices(idx)

    return tf.data.Dataset.range(first_pass, _FOREVER).flat_map(one_pass).skip(offset)


@dataclass
class DataSource:
    """A data set of ``num_examples`` images with integer labels (``num_classes`` = 0: unlabelled)."""

    name: str
    labels: np.ndarray
    preprocess: Preprocess
    num_classes: int = 0
    class_names: Sequence[str] = field(default_factory=list)
    skipped: Sequence[str] = field(default_factory=list)  # unreadable files left out (on_error=skip)

    @property
    def num_examples(self) -> int:
        return int(len(self.labels))

    @property
    def image_shape(self) -> tuple:
        return self.preprocess.image_shape

    @property
    def value_range(self) -> tuple:
        return self.preprocess.value_range

    def steps_per_epoch(self, batch_size: int) -> int:
        steps = self.num_examples // batch_size
        if steps == 0:
            raise DataError(
                f"{self.name} has {self.num_examples} examples, fewer than one batch of {batch_size}; "
                "lower train.batch_size or use more data")
        return steps

    def dataset(self, batch_size: int, *, seed: int = 0, shuffle: bool = True, start_step: int = 0,
                repeat: bool = True, drop_remainder: bool = True) -> tf.data.Dataset:
        """Batches of examples.  ``repeat=True``: endless, deterministic, starting at batch ``start_step``."""
        if repeat:
            indices = index_stream(self.num_examples, seed=seed, shuffle=shuffle, start=start_step * batch_size)
        else:
            indices = tf.data.Dataset.range(self.num_examples)
        ds = self._examples(indices, batch_size, drop_remainder)
        options = tf.data.Options()
        options.deterministic = True
        # Our examples come from index streams, not files: shard by data across workers.
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        return ds.with_options(options).prefetch(AUTOTUNE)

    def _examples(self, indices: tf.data.Dataset, batch_size: int, drop_remainder: bool) -> tf.data.Dataset:
        raise NotImplementedError

    def take(self, n: int, seed: int = 0) -> dict:
        """``n`` preprocessed examples as numpy arrays (for sample grids and reconstructions)."""
        n = min(n, self.num_examples)
        batch = next(iter(self.dataset(n, seed=seed, shuffle=True)))
        return {k: v.numpy() for k, v in batch.items()}


@dataclass
class ArraySource(DataSource):
    """Images held in memory as uint8 [N, H, W, C] (digits, MNIST, CIFAR-10, .npz)."""

    images: np.ndarray = None

    def _examples(self, indices, batch_size, drop_remainder):
        images = tf.constant(self.images)
        labels = tf.constant(self.labels.astype(np.int32))
        preprocess = self.preprocess

        # Gather and preprocess whole batches: one resize per batch, not per image.
        def gather(idx):
            return {"image": preprocess(tf.gather(images, idx)), "label": tf.gather(labels, idx)}

        return indices.batch(batch_size, drop_remainder=drop_remainder).map(
            gather, num_parallel_calls=AUTOTUNE, deterministic=True)


@dataclass
class FileSource(DataSource):
    """Images read from files (folders, CelebA), decoded in parallel."""

    paths: Sequence[str] = ()

    def _examples(self, indices, batch_size, drop_remainder):
        paths = tf.constant([str(p) for p in self.paths])
        labels = tf.constant(self.labels.astype(np.int32))
        preprocess = self.preprocess

        def load(i):
            raw = tf.io.read_file(tf.gather(paths, i))
            image = tf.io.decode_image(raw, channels=3, expand_animations=False)
            image.set_shape([None, None, 3])
            return {"image": preprocess(image), "label": tf.gather(labels, i)}

        return indices.map(load, num_parallel_calls=AUTOTUNE, deterministic=True).batch(
            batch_size, drop_remainder=drop_remainder)
