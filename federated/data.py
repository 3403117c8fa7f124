"""The federated experiments' data: one labelled array set, grayscale in [0, 1], split 70/30.

B²-FedGAN converts CIFAR-10 and COVID-19 images to grayscale, resizes COVID-19 to 64×64, scales
pixels to [0, 1] and holds out 30% for testing.  Sources come from ``keras_gens.data`` (the same
loaders, with their download instructions when data is missing); train and test parts of sources
that ship both are pooled before the split, as the paper's single ``test_size=0.30`` split implies.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from keras_gens import config as config_lib
from keras_gens import data as data_lib
from keras_gens.errors import ConfigError, DataError
from keras_gens.utils.progress import progress

NATIVE_SIZES = {"digits": 8, "mnist5k": 28, "mnist": 28, "cifar10": 32, "covid": 64}


@dataclass
class FederatedData:
    name: str
    x_train: np.ndarray  # float32 [N, H, W, 1] in [0, 1]
    y_train: np.ndarray  # int32 [N]
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    class_names: list

    @property
    def image_shape(self) -> tuple:
        return tuple(self.x_train.shape[1:])


def image_size(data_cfg) -> int | list:
    kind, _ = data_lib.parse_spec(data_cfg["source"])
    size = data_cfg.get("image_size") or NATIVE_SIZES.get(kind)
    if size is None:
        raise DataError(f"data.image_size must be set for {kind}: sources (its images may have any size)")
    return size


def keras_gens_data_section(data_cfg) -> dict:
    """The ``keras_gens.data`` section for this source: grayscale in [0, 1]; ``data.split`` all pools the
    official training and test sets (ours), train takes the training set alone (the paper's Table 1)."""
    base = config_lib.load_yaml(config_lib.find_config_dir() / "base.yaml")["data"]
    split = data_cfg.get("split", "all")
    kind, _ = data_lib.parse_spec(data_cfg["source"])
    if split != "all" and kind not in data_lib.SPLIT_AWARE:
        raise ConfigError(f"data.split={split}: {kind} has no official training split (it is one set); "
                          "use data.split=all")
    return {**base, "source": data_cfg["source"], "split": split, "image_size": image_size(data_cfg),
            "channels": 1, "value_range": [0, 1], "limit": data_cfg.get("limit")}


def load_arrays(data_cfg, batch_size: int = 512) -> tuple[np.ndarray, np.ndarray, object]:
    """All images as float32 [N, H, W, 1] in [0, 1] and their labels."""
    source = data_lib.load(keras_gens_data_section(data_cfg))
    if source.num_classes < 2:
        raise DataError(f"{source.name} has no class labels; the federated classifier needs labelled data "
                        "(for folder: sources, one sub-folder per class)")
    images, labels = [], []
    batches = source.dataset(batch_size, shuffle=False, repeat=False, drop_remainder=False)
    for batch in progress(batches, total=-(-source.num_examples // batch_size), desc=f"reading {source.name}",
                          min_total=5, unit="batch"):
        images.append(batch["image"].numpy())
        labels.append(batch["label"].numpy())
    return np.concatenate(images).astype(np.float32), np.concatenate(labels).astype(np.int32), source


def load(data_cfg, seed: int = 0) -> FederatedData:
    x, y, source = load_arrays(data_cfg)
    fraction = float(data_cfg["test_fraction"])
    if not 0.0 < fraction < 1.0:
        raise DataError(f"data.test_fraction must lie strictly between 0 and 1; got {fraction}")
    order = np.random.default_rng(seed).permutation(len(y))
    cut = int(round(len(y) * (1.0 - fraction)))
    train, test = order[:cut], order[cut:]
    return FederatedData(source.name, x[train], y[train], x[test], y[test], int(source.num_classes),
                         [str(c) for c in source.class_names])
