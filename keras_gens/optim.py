"""Optimizers from config sections such as ``{name: adam, learning_rate: 0.001, beta_1: 0.5}``."""
from __future__ import annotations

import tensorflow as tf

from keras_gens.errors import ConfigError

_OPTIMIZERS = {
    "adam": (tf.keras.optimizers.Adam, {"learning_rate", "beta_1", "beta_2", "epsilon", "amsgrad"}),
    "rmsprop": (tf.keras.optimizers.RMSprop, {"learning_rate", "rho", "momentum", "epsilon", "centered"}),
    "sgd": (tf.keras.optimizers.SGD, {"learning_rate", "momentum", "nesterov"}),
}
_COMMON = {"clipnorm", "clipvalue", "global_clipnorm"}


def make_optimizer(section, where: str = "optimizer") -> tf.keras.optimizers.Optimizer:
    section = dict(section)
    name = str(section.pop("name", "adam")).lower()
    if name not in _OPTIMIZERS:
        raise ConfigError(f"{where}.name must be one of {', '.join(_OPTIMIZERS)}; got {name!r}")
    cls, allowed = _OPTIMIZERS[name]
    kwargs = {k: v for k, v in section.items() if v is not None}
    unknown = set(kwargs) - allowed - _COMMON
    if unknown:
        raise ConfigError(f"{where}: {name} takes no {', '.join(sorted(unknown))}; "
                          f"valid: {', '.join(sorted(allowed | _COMMON))}")
    return cls(**kwargs)
