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
# Every other integer is a size or count and must be positive, every float finite (keras_gens.config.validate_values).
# Dirichlet draws (dirichlet's alpha, the others' concentration) take numpy time in proportion to 1/alpha, and
# below 1e-4 a client already gets each class whole or not at all: smaller values would only stall the draw.
DIRICHLET = config_lib.Range(1e-4)
RANGES = {
    "run.seed": config_lib.NON_NEGATIVE_COUNT, "run.verbose": config_lib.NON_NEGATIVE_COUNT,
    "partition.min_per_class": config_lib.NON_NEGATIVE_COUNT, "partition.min_size": config_lib.NON_NEGATIVE_COUNT,
    "run.early_stopping.patience": config_lib.NON_NEGATIVE_COUNT,
    "partition.alpha": DIRICHLET, "partition.concentration": DIRICHLET,
    "partition.min_per_class_fraction": config_lib.Range(0.0, 1.0, low_open=True),
    "partition.min_class_fraction": config_lib.BELOW_ONE,
    "federated.mixing": config_lib.SHARE, "federated.client_learning_rate": config_lib.POSITIVE,
    "federated.server_learning_rate": config_lib.POSITIVE, "data.test_fraction": config_lib.OPEN_SHARE,
    "run.early_stopping.min_delta": config_lib.NON_NEGATIVE,
}
OPTIONAL = {"data.limit": 1, "partition.min_per_class_fraction": 0.5, "partition.max_classes": 1}


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
    config_lib.validate_values(cfg, RANGES, OPTIONAL)
    partition, federated = cfg["partition"], cfg["federated"]
    if federated["clients_per_round"] > partition["num_clients"]:
        raise config_lib.ConfigError(
            f"'federated.clients_per_round' is {federated['clients_per_round']}, more than the "
            f"{partition['num_clients']} clients (partition.num_clients); lower it or raise partition.num_clients")
    return config_lib.Config.wrap(cfg)
