"""Belle II PXD hitmaps (PE-GAN, seed 004): 40 sensors, each a 250×768 matrix of ADU values.

Stored as arrays, one example per sensor readout:
    .npz   images (or hitmaps): uint8 [N, 250, 768] ADU;  sensor_ids (or labels): int [N], 1–40
    .h5    the same two datasets (h5py)
    folder every .npz/.h5 file in it, in sorted order
``--data pxd:PATH``.  The Belle II simulation is not public; ``--data synthetic_pxd`` (or
``python tools/synthetic_pxd.py OUT.npz``) gives a seeded stand-in in this format.

Preprocessing (``PXDPreprocess``): ADU below ``data.pxd_threshold`` (7, the readout threshold of
the simulation) are zeroed, the 250 rows are zero-padded at the bottom to 256 (so six ×2 stages
divide them), ADU/255 is mapped to ``value_range``.  Smaller ``image_size`` (tests, smoke runs)
max-pools by the integer factor, which keeps isolated hits visible where averaging would drown
them.  Labels are sensor ids − 1 (classes 0–39, named "1".."40").

Each source carries ``class_prior``: the mean occupancy (fraction of pixels at or above the
threshold) of each sensor in this data, PE-GAN's prior information ``s``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from keras_gens.data.pipeline import ArraySource, Preprocess
from keras_gens.data.validate import check_npz_archive
from keras_gens.errors import DataError, DataMissing

SENSORS = 40
ROWS, COLUMNS = 250, 768
PADDED_ROWS = 256
THRESHOLD_ADU = 7
IMAGE_KEYS = ("images", "hitmaps")
SENSOR_KEYS = ("sensor_ids", "labels")


@dataclass(frozen=True)
class PXDPreprocess(Preprocess):
    """Threshold, zero-pad to 256 rows, max-pool to ``size``, scale: see the module docstring."""

    threshold: int = THRESHOLD_ADU

    @classmethod
    def for_hitmaps(cls, base: Preprocess, threshold: int) -> "PXDPreprocess":
        if base.channels != 1:
            raise DataError(f"PXD hitmaps have one channel; set data.channels=1 (got {base.channels})")
        height, width = base.size
        factor = PADDED_ROWS // height
        if PADDED_ROWS % height or COLUMNS % width or factor != COLUMNS // width:
            raise DataError(f"data.image_size {list(base.size)} must be [256, 768] divided by one integer "
                            "(e.g. [256, 768], [64, 192], [32, 96])")
        return cls(size=base.size, channels=1, value_range=base.value_range, threshold=int(threshold))

    @property
    def pool(self) -> int:
        return PADDED_ROWS // self.size[0]

    def __call__(self, image: tf.Tensor) -> tf.Tensor:
        batched = image.shape.rank == 4
        x = image if batched else image[None]
        x = tf.cast(x, tf.float32)
        x = tf.where(x < self.threshold, 0.0, x)
        x = tf.pad(x, [[0, 0], [0, PADDED_ROWS - ROWS], [0, 0], [0, 0]])
        if self.pool > 1:
            x = tf.nn.max_pool2d(x, self.pool, self.pool, "VALID")
        lo, hi = self.value_range
        x = x / 255.0 * (hi - lo) + lo
        x = tf.ensure_shape(x, [None, *self.image_shape])
        return x if batched else x[0]


def unit_to_adu(unit_images, threshold: int = THRESHOLD_ADU, rows: int | None = ROWS):
    """Generated images in [0, 1] → ADU hitmaps: ×255, rounded, below-threshold pixels zeroed, padding cut.

    ``rows``: the rows to keep (250 at full size; at reduced sizes, 250 scaled down and rounded up)."""
    adu = tf.round(tf.cast(unit_images, tf.float32) * 255.0)
    adu = tf.where(adu < threshold, 0.0, adu)
    if rows is not None:
        adu = adu[:, :rows]
    return tf.cast(adu, tf.uint8)


def to_hitmaps(images, value_range, threshold: int = THRESHOLD_ADU) -> np.ndarray:
    """Model-space images [N, H, W, 1] (in ``value_range``) → uint8 ADU hitmaps [N, rows, W]: as
    ``unit_to_adu``, in numpy, for images already computed (evaluation, in-memory generation)."""
    from keras_gens.utils.images import to_uint8

    adu = to_uint8(images, value_range)[..., 0]
    adu[adu < threshold] = 0
    return adu[:, :kept_rows(adu.shape[1])]


def kept_rows(height: int) -> int:
    """Rows of a ``height``-row image that cover the 250 real rows (the rest is padding)."""
    return -(-ROWS * height // PADDED_ROWS)


@dataclass
class PXDSource(ArraySource):
    class_prior: tuple | None = None  # per-sensor mean occupancy, PE-GAN's s


def occupancy(hitmaps: np.ndarray, threshold: int = THRESHOLD_ADU) -> np.ndarray:
    """Fraction of pixels at or above ``threshold`` in each hitmap ([N, H, W] or [N, H, W, 1])."""
    hitmaps = np.asarray(hitmaps)
    return (hitmaps >= threshold).reshape(len(hitmaps), -1).mean(axis=1)


def sensor_occupancy(hitmaps: np.ndarray, sensor_ids: np.ndarray, threshold: int = THRESHOLD_ADU) -> np.ndarray:
    """Mean occupancy per sensor 1–40 (NaN for a sensor without hitmaps)."""
    per_image = occupancy(hitmaps, threshold)
    sensor_ids = np.asarray(sensor_ids).reshape(-1)
    return np.array([per_image[sensor_ids == s].mean() if np.any(sensor_ids == s) else np.nan
                     for s in range(1, SENSORS + 1)])


def _read_arrays(file: Path) -> tuple[np.ndarray, np.ndarray]:
    if file.suffix == ".npz":
        check_npz_archive(file)
        kind, what = ".npz", "arrays"

        def open_file():
            return np.load(file, allow_pickle=False)
    elif file.suffix in (".h5", ".hdf5"):
        import h5py

        kind, what = "HDF5", "datasets"

        def open_file():
            return h5py.File(file, "r")
    else:
        raise DataError(f"{file}: PXD files are .npz or .h5")
    try:
        with open_file() as container:
            keys = set(container.keys())
            image_key = next((k for k in IMAGE_KEYS if k in keys), None)
            sensor_key = next((k for k in SENSOR_KEYS if k in keys), None)
            if image_key is None or sensor_key is None:
                raise DataError(f"{file}: a PXD file needs {what} 'images' [N, 250, 768] and 'sensor_ids' [N]; "
                                f"found {', '.join(sorted(keys)) or 'nothing'}")
            return np.asarray(container[image_key]), np.asarray(container[sensor_key])
    except DataError:
        raise
    except Exception as exc:  # numpy and h5py raise several types for damaged files
        raise DataError(f"cannot read {file} as {kind}: {exc}") from None


def check_hitmaps(images: np.ndarray, sensor_ids: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray]:
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3 or images.shape[1:] != (ROWS, COLUMNS):
        raise DataError(f"{where}: PXD hitmaps must have shape [N, {ROWS}, {COLUMNS}]; got {list(images.shape)}")
    if len(images) == 0:
        raise DataError(f"{where}: holds no hitmaps")
    if images.dtype != np.uint8:
        if not np.issubdtype(images.dtype, np.number) or images.min() < 0 or images.max() > 255:
            raise DataError(f"{where}: hitmaps must hold ADU values 0–255 (uint8); got {images.dtype} "
                            f"in [{images.min()}, {images.max()}]")
        images = np.round(images).astype(np.uint8)
    sensor_ids = np.asarray(sensor_ids).reshape(-1)
    if len(sensor_ids) != len(images):
        raise DataError(f"{where}: {len(sensor_ids)} sensor ids for {len(images)} hitmaps")
    if not np.issubdtype(sensor_ids.dtype, np.integer) or sensor_ids.min() < 1 or sensor_ids.max() > SENSORS:
        raise DataError(f"{where}: sensor ids must be integers 1–{SENSORS}; got values in "
                        f"[{sensor_ids.min()}, {sensor_ids.max()}]")
    return images, sensor_ids.astype(np.int32)


def read_hitmaps(path) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 [N, 250, 768], sensor ids [N] in 1–40) from a file or a folder of files."""
    root = Path(path).expanduser()
    if root.is_dir():
        files = sorted(p for p in root.iterdir() if p.suffix in (".npz", ".h5", ".hdf5"))
        if not files:
            raise DataError(f"{root} holds no PXD files (.npz or .h5)")
    elif root.is_file():
        files = [root]
    else:
        raise DataMissing(
            f"PXD data not found at {root}.\n  The Belle II PXD simulation is not public: export your simulated "
            f"hitmaps as .npz (or .h5) with 'images' uint8 [N, {ROWS}, {COLUMNS}] (ADU) and 'sensor_ids' [N] (1–40) "
            "and pass --data pxd:PATH (a file or a folder of them); or try the seeded stand-in: --data synthetic_pxd")
    parts = [check_hitmaps(*_read_arrays(f), where=str(f)) for f in files]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def hitmap_source(name, images, sensor_ids, data_cfg, preprocess: Preprocess) -> PXDSource:
    threshold = int(data_cfg.get("pxd_threshold", THRESHOLD_ADU))
    pxd_preprocess = PXDPreprocess.for_hitmaps(preprocess, threshold)
    n = len(images)
    cut = int(round(n * 0.8))
    keep = {"train": np.arange(cut), "test": np.arange(cut, n), "all": np.arange(n)}[data_cfg["split"]]
    if len(keep) == 0:
        raise DataError(f"{name}: the '{data_cfg['split']}' split is empty ({n} hitmaps)")
    images, sensor_ids = images[keep], sensor_ids[keep]
    prior = sensor_occupancy(images, sensor_ids, threshold)
    # A sensor absent from the data gets the mean of the others: a neutral prior, not a false zero.
    prior = np.where(np.isnan(prior), np.nanmean(prior), prior)
    return PXDSource(name=name, images=images[..., None], labels=sensor_ids - 1, num_classes=SENSORS,
                     class_names=[str(s) for s in range(1, SENSORS + 1)], preprocess=pxd_preprocess,
                     class_prior=tuple(float(p) for p in prior))


def load_pxd(path, data_cfg, preprocess: Preprocess) -> PXDSource:
    if not path:
        raise DataError("pxd needs a path: --data pxd:FILE.npz (or .h5, or a folder of them)")
    images, sensor_ids = read_hitmaps(path)
    return hitmap_source(f"pxd:{Path(path).expanduser()}", images, sensor_ids, data_cfg, preprocess)
