"""``keras_gens.data``: data sources named by a spec string, yielding ``tf.data.Dataset``s.

    source = keras_gens.data.load(cfg.data)          # cfg.data.source = "celeba:data/celeba"
    ds = source.dataset(batch_size=64, seed=0)       # {"image": [64, H, W, C], "label": [64]}
"""
from __future__ import annotations

import difflib

from keras_gens.data.pipeline import (ArraySource, DataSource, FileSource, Preprocess, TrainingStream,
                                      index_stream)
from keras_gens.data.sources import SOURCES, SPLIT_AWARE, check_test_fraction, describe_sources, spec_help
from keras_gens.errors import ConfigError, DataError

__all__ = ["load", "load_heldout", "parse_spec", "DataSource", "ArraySource", "FileSource", "Preprocess", "index_stream",
           "describe_sources", "spec_help", "TrainingStream"]


def parse_spec(spec: str) -> tuple[str, str | None]:
    """``"folder:/x/y"`` -> ``("folder", "/x/y")``; ``"digits"`` -> ``("digits", None)``."""
    kind, _, path = str(spec).partition(":")
    kind = kind.strip().lower()
    if kind not in SOURCES:
        close = difflib.get_close_matches(kind, SOURCES, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise DataError(f"unknown data source '{spec}' (data.source, --data).{hint} Sources: {spec_help()}")
    return kind, (path or None)


def load(data_cfg) -> DataSource:
    """The data source that ``data_cfg`` (the config's ``data`` section) names."""
    kind, path = parse_spec(data_cfg["source"])
    check_test_fraction(kind, data_cfg)
    source = SOURCES[kind].loader(path, data_cfg, Preprocess.from_config(data_cfg))
    _check_crop(source, data_cfg.get("crop"))
    source.stream = TrainingStream.from_config(data_cfg)
    limit = data_cfg.get("limit")
    if limit:
        source = _limited(source, int(limit))
    return source


def load_heldout(data_cfg, training: DataSource | None = None) -> DataSource:
    """The test split of a source that has one; otherwise (folders, .npz) the source itself.

    ``training``: the source already loaded from ``data_cfg``, returned as it is when there is no
    other split, so that its files are not checked (and their warnings printed) a second time."""
    kind, _ = parse_spec(data_cfg["source"])
    if kind in SPLIT_AWARE and data_cfg["split"] != "test":
        return load({**data_cfg, "split": "test", "limit": None})
    return training if training is not None else load(data_cfg)


def _check_crop(source: DataSource, crop):
    """A centre crop larger than the images would be cut to their size without a word: refuse it."""
    size = source.raw_size() if crop else None
    if size and crop > min(size):
        raise ConfigError(f"'data.crop' is {crop}, larger than the {size[0]}x{size[1]} images of {source.name}; "
                          f"set at most {min(size)}, or null for no crop")


def _limited(source: DataSource, n: int) -> DataSource:
    """The first ``n`` examples (for quick experiments)."""
    import dataclasses

    import numpy as np

    changes = {}
    for f in dataclasses.fields(source):
        value = getattr(source, f.name)
        if isinstance(value, np.ndarray) and len(value) == source.num_examples:  # labels, images, camera ids
            changes[f.name] = value[:n]
    if isinstance(source, FileSource):
        changes["paths"] = list(source.paths)[:n]
    return dataclasses.replace(source, **changes)
