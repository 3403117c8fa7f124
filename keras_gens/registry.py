"""The one map from model names to builders and default configs.

A model family registers itself next to its code:

    @register("vae", summary="...", choices={"model.output": [...]}, ranges={"model.kl_weight": NON_NEGATIVE})
    def build_vae(cfg: Config, data: DataInfo) -> GenerativeModel: ...

in any module of ``keras_gens.models`` (all are imported on first use), and
its defaults live in ``configs/<name>.yaml``.  The CLI, the tests, the
benchmarks and the federated code all reach models through here.
"""
from __future__ import annotations

import difflib
import importlib
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from keras_gens import config as config_lib
from keras_gens.errors import ConfigError


@dataclass(frozen=True)
class ModelSpec:
    name: str
    builder: Callable
    summary: str = ""
    config_file: str = ""
    choices: dict = field(default_factory=dict)
    #: Numbers this model's config keys may take (``config.Range``), beside the common ones.
    ranges: dict = field(default_factory=dict)
    #: Config keys of this model that may change when a run resumes (re-ID: ``model.stage``).
    resumable: tuple = ()
    #: An auto-encoder (its model's ``encodes_images``), known before it is built: ``compare`` takes only these.
    autoencoder: bool = False

    @property
    def config_path(self) -> Path:
        return config_lib.find_config_dir() / (self.config_file or f"{self.name}.yaml")

    def config(self, *, user_file=None, overrides=(), smoke=False) -> config_lib.Config:
        return config_lib.resolve(self.config_path, user_file=user_file, overrides=overrides, smoke=smoke,
                                  choices=self.choices, ranges=self.ranges)

    def build(self, cfg, data_info):
        return self.builder(cfg, data_info)


_REGISTRY: dict[str, ModelSpec] = {}


def register(name: str, *, summary: str = "", config_file: str = "", choices: dict | None = None,
             ranges: dict | None = None, resumable=(), autoencoder: bool = False):
    def decorator(builder):
        if name in _REGISTRY and _REGISTRY[name].builder is not builder:
            raise ValueError(f"model name '{name}' is registered twice")
        _REGISTRY[name] = ModelSpec(name, builder, summary, config_file, dict(choices or {}), dict(ranges or {}),
                                    tuple(resumable), autoencoder)
        return builder

    return decorator


def _load_families():
    """Import every module of ``keras_gens.models``: a new family needs no list to be edited."""
    import keras_gens.models as models

    for info in pkgutil.iter_modules(models.__path__):
        importlib.import_module(f"{models.__name__}.{info.name}")


def names() -> list[str]:
    _load_families()
    return sorted(_REGISTRY)


def get(name: str) -> ModelSpec:
    _load_families()
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, _REGISTRY, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise ConfigError(f"unknown model '{name}'.{hint} Models: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]
