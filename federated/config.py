"""Federated experiment configs: ``configs/federated.yaml`` holds every key and its default; an
experiment file ``extends:`` it (or another experiment) and ``key=value`` overrides come last."""
from __future__ import annotations

from pathlib import Path

from keras_gens import config as config_lib

DEFAULTS_FILE = "federated.yaml"
CHOICES = {
    "partition.name": ["iid", "iid_imbalanced", "non_iid", "k_classes", "dirichlet"],
    "federated.algorithm": ["fedavg", "bi_fedavg"],
    "federated.first_start": ["global", "initial"],
    "data.split": ["all", "train"],
    "augment.method": ["none", "cgan", "bagan_gp"],
    "run.verbose": [0, 1, 2],
}
# Every other integer is a size or count and must be positive (keras_gens.config.validate_counts).
NON_NEGATIVE = ("run.seed", "run.verbose", "partition.min_per_class", "partition.min_size",
                "run.early_stopping.patience")


def defaults_path() -> Path:
    return config_lib.find_config_dir() / DEFAULTS_FILE


def resolve(config_file=None, overrides=()) -> config_lib.Config:
    defaults = config_lib.load_yaml(defaults_path())
    cfg = defaults
    if config_file is not None:
        experiment = config_lib.load_model_yaml(Path(config_file))
        cfg = config_lib.merge(defaults, experiment, source=str(config_file))
    cfg = config_lib.apply_overrides(cfg, overrides)
    config_lib.validate_choices(cfg, CHOICES)
    config_lib.validate_counts(cfg, NON_NEGATIVE)
    return config_lib.Config.wrap(cfg)
