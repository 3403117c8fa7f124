"""Data sources as ``tf.data`` pipelines.

Every source yields dicts ``{"image": float32[H, W, C], "label": int32}``.  The
order of examples is a pure function of ``(seed, position in the stream)``:
each pass over the data (a *data epoch*) is a stateless permutation keyed by
``(seed, pass number)``.  A resumed run therefore sees exactly the batches an
uninterrupted run would have seen, on any number of replicas, by skipping to
its position instead of replaying RNG state.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
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


@dataclass(frozen=True)
class TrainingStream:
    """How training batches differ from evaluation batches (the ``data`` keys sampler, pk, augment).

    ``sampler="pk"``: each batch holds P identities (classes) × K examples of each, as
    batch-hard triplet mining needs.  ``resize``: training images are resized to this
    [height, width] and randomly cropped to the image size (evaluation images are
    resized straight to it); ``flip``: random horizontal flips.
    """

    sampler: str = "shuffle"
    pk: tuple = (20, 3)
    resize: tuple | None = None
    flip: bool = False

    @classmethod
    def from_config(cls, data_cfg) -> "TrainingStream":
        augment = data_cfg.get("augment") or {}
        resize = augment.get("resize")
        if isinstance(resize, int):
            resize = (resize, resize)
        return cls(sampler=data_cfg.get("sampler", "shuffle"), pk=tuple(int(v) for v in data_cfg.get("pk", (20, 3))),
                   resize=tuple(int(v) for v in resize) if resize else None, flip=bool(augment.get("flip", False)))

    @property
    def augments(self) -> bool:
        return self.resize is not None or self.flip


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


def pk_index_stream(labels: np.ndarray, identities: int, per_identity: int, *, seed: int,
                    start_step: int = 0) -> tf.data.Dataset:
    """Endless example indices in groups of P·K: P distinct identities, K examples of each.

    Identities are visited in passes, each a stateless permutation keyed by ``(seed, pass)``
    cut into groups of P (the remainder of a pass is left out, so no group repeats an
    identity).  Step ``s``'s K examples per identity are drawn without replacement, or with
    replacement for identities holding fewer than K; all draws are keyed by ``(seed, s)``,
    so a resumed run sees the same batches.
    """
    labels = np.asarray(labels)
    present, counts = np.unique(labels, return_counts=True)
    if identities > len(present):
        raise DataError(f"the P×K sampler needs {identities} identities per batch (data.pk), but the data holds "
                        f"{len(present)}; lower data.pk's P")
    order = np.argsort(labels, kind="stable").astype(np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    groups_per_pass = len(present) // identities
    order_t, starts_t, counts_t = tf.constant(order), tf.constant(starts), tf.constant(counts.astype(np.int64))
    most = int(counts.max())
    seed_t = tf.constant(seed, tf.int64)

    def group(step):
        pass_number, within = step // groups_per_pass, step % groups_per_pass
        permutation = tf.random.experimental.stateless_shuffle(
            tf.range(len(present), dtype=tf.int64), seed=tf.stack([seed_t, pass_number]))
        chosen = permutation[within * identities:(within + 1) * identities]
        count = tf.gather(counts_t, chosen)[:, None]
        draw = tf.random.stateless_uniform([identities, most], seed=tf.stack([seed_t + 1, step]))
        # Sorting random keys of the valid positions first: the first K are K distinct examples.
        keys = tf.where(tf.range(most, dtype=tf.int64)[None] < count, draw, 2.0)
        distinct = tf.argsort(keys, axis=1, stable=True)[:, :per_identity]
        with_replacement = tf.cast(draw[:, :per_identity] * tf.cast(count, tf.float32), tf.int64)
        with_replacement = tf.minimum(with_replacement, count - 1)
        pick = tf.where(count >= per_identity, tf.cast(distinct, tf.int64), with_replacement)
        return tf.reshape(tf.gather(order_t, tf.gather(starts_t, chosen)[:, None] + pick), [-1])

    return tf.data.Dataset.range(int(start_step), _FOREVER).map(group).unbatch()


def augment_batch(images: tf.Tensor, size: tuple, flip: bool, seed: tf.Tensor) -> tf.Tensor:
    """Random crops of ``size`` (one offset per image) and horizontal flips, keyed by ``seed`` [2]."""
    shape = tf.shape(images)
    n, height, width = shape[0], size[0], size[1]
    if images.shape[1] != height or images.shape[2] != width:
        top = tf.random.stateless_uniform([n], seed=seed, maxval=shape[1] - height + 1, dtype=tf.int32)
        left = tf.random.stateless_uniform([n], seed=seed + [0, 1], maxval=shape[2] - width + 1, dtype=tf.int32)
        rows = top[:, None] + tf.range(height)[None]
        cols = left[:, None] + tf.range(width)[None]
        images = tf.gather(images, rows, axis=1, batch_dims=1)
        images = tf.gather(images, cols, axis=2, batch_dims=1)
    if flip:
        flipped = tf.random.stateless_uniform([n], seed=seed + [0, 2]) < 0.5
        images = tf.where(flipped[:, None, None, None], tf.reverse(images, axis=[2]), images)
    return images


@dataclass
class DataSource:
    """A data set of ``num_examples`` images with integer labels (``num_classes`` = 0: unlabelled)."""

    name: str
    labels: np.ndarray
    preprocess: Preprocess
    num_classes: int = 0
    class_names: Sequence[str] = field(default_factory=list)
    skipped: Sequence[str] = field(default_factory=list)  # unreadable files left out (on_error=skip)
    stream: TrainingStream = field(default_factory=TrainingStream)

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
        return self._finish(self._examples(indices, batch_size, drop_remainder, self.preprocess))

    def training_dataset(self, batch_size: int, *, seed: int = 0, start_step: int = 0) -> tf.data.Dataset:
        """The endless training stream: ``dataset`` plus the ``stream``'s sampler and augmentation."""
        stream = self.stream
        if stream.sampler == "pk":
            identities, per_identity = stream.pk
            if batch_size != identities * per_identity:
                raise DataError(f"with data.sampler=pk a batch holds P×K = {identities}×{per_identity} = "
                                f"{identities * per_identity} images (data.pk), but train.batch_size is {batch_size}; "
                                "set them to agree")
            indices = pk_index_stream(self.labels, identities, per_identity, seed=seed, start_step=start_step)
        elif stream.sampler == "shuffle":
            indices = index_stream(self.num_examples, seed=seed, shuffle=True, start=start_step * batch_size)
        else:
            raise DataError(f"data.sampler must be shuffle or pk, got {stream.sampler!r}")
        if not stream.augments:
            return self._finish(self._examples(indices, batch_size, True, self.preprocess))
        preprocess = self.preprocess
        if stream.resize is not None:
            if stream.resize[0] < preprocess.size[0] or stream.resize[1] < preprocess.size[1]:
                raise DataError(f"data.augment.resize {list(stream.resize)} must be at least data.image_size "
                                f"{list(preprocess.size)}: training images are cropped from it")
            preprocess = replace(preprocess, size=stream.resize)
        size, flip = self.preprocess.size, stream.flip
        seed_t = tf.constant(seed, tf.int64)

        def augment(step, batch):
            image = augment_batch(batch["image"], size, flip, tf.stack([seed_t + 2, step]))
            return {**batch, "image": tf.ensure_shape(image, [None, *self.preprocess.image_shape])}

        batches = self._examples(indices, batch_size, True, preprocess).enumerate(int(start_step))
        return self._finish(batches.map(augment, num_parallel_calls=AUTOTUNE, deterministic=True))

    @staticmethod
    def _finish(ds: tf.data.Dataset) -> tf.data.Dataset:
        options = tf.data.Options()
        options.deterministic = True
        # Our examples come from index streams, not files: shard by data across workers.
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        return ds.with_options(options).prefetch(AUTOTUNE)

    def _examples(self, indices: tf.data.Dataset, batch_size: int, drop_remainder: bool,
                  preprocess: Preprocess) -> tf.data.Dataset:
        raise NotImplementedError

    def raw_size(self) -> tuple | None:
        """(height, width) of the stored images before preprocessing, where known cheaply (None otherwise)."""
        return None

    def take(self, n: int, seed: int = 0) -> dict:
        """``n`` preprocessed examples as numpy arrays (for sample grids and reconstructions)."""
        n = min(n, self.num_examples)
        batch = next(iter(self.dataset(n, seed=seed, shuffle=True)))
        return {k: v.numpy() for k, v in batch.items()}


@dataclass
class ArraySource(DataSource):
    """Images held in memory as uint8 [N, H, W, C] (digits, MNIST, CIFAR-10, .npz)."""

    images: np.ndarray = None

    def raw_size(self) -> tuple | None:
        return tuple(int(v) for v in self.images.shape[1:3]) if getattr(self.images, "ndim", 0) >= 3 else None

    def _examples(self, indices, batch_size, drop_remainder, preprocess):
        images = tf.constant(self.images)
        labels = tf.constant(self.labels.astype(np.int32))

        # Gather and preprocess whole batches: one resize per batch, not per image.
        def gather(idx):
            return {"image": preprocess(tf.gather(images, idx)), "label": tf.gather(labels, idx)}

        return indices.batch(batch_size, drop_remainder=drop_remainder).map(
            gather, num_parallel_calls=AUTOTUNE, deterministic=True)


@dataclass
class FileSource(DataSource):
    """Images read from files (folders, CelebA), decoded in parallel."""

    paths: Sequence[str] = ()

    def raw_size(self) -> tuple | None:
        """The first image's size, from its header (the files of a folder may differ)."""
        from PIL import Image

        try:
            with Image.open(self.paths[0]) as image:
                width, height = image.size
        except (OSError, IndexError, ValueError):
            return None
        return height, width

    def _examples(self, indices, batch_size, drop_remainder, preprocess):
        paths = tf.constant([str(p) for p in self.paths])
        labels = tf.constant(self.labels.astype(np.int32))

        def load(i):
            raw = tf.io.read_file(tf.gather(paths, i))
            image = tf.io.decode_image(raw, channels=3, expand_animations=False)
            image.set_shape([None, None, 3])
            return {"image": preprocess(image), "label": tf.gather(labels, i)}

        return indices.map(load, num_parallel_calls=AUTOTUNE, deterministic=True).batch(
            batch_size, drop_remainder=drop_remainder)
