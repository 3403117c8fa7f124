"""Configs: YAML files whose defaults are also their schema.

A model's resolved config is ``keras_gens/configs/base.yaml`` (data, train, checkpoint ...)
with the model's own YAML laid over it.  Every key a user may set appears in
those defaults, so the defaults double as the schema: a key that is not there
is unknown, and a value must have the type of its default.

Layers of a resolved config, later ones winning:
    base.yaml < MODEL.yaml < [the chosen reading] < [base.yaml's, then MODEL.yaml's ``smoke:`` overlay]
    < --config FILE < key=value

Readings.  Where a paper's text and its authors' code disagree, a model YAML names each version in
a ``readings:`` block (reading name -> dotted overrides) and ``model.reading`` picks one; ``ours``
is the sections as written, which the YAML's comments describe row by row.  The choice may come
from any layer (``model.reading=paper`` on the command line), and its overrides lie under the
smoke overlay and the user's own settings, so ``model.reading=paper train.epochs=3`` keeps the 3.
"""
from __future__ import annotations

import copy
import difflib
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from keras_gens.errors import ConfigError
from keras_gens.utils.io import atomic_write_text

class _Loader(yaml.SafeLoader):
    """YAML with 1.2-style floats (PyYAML alone reads ``1e-3`` as a string) and no repeated keys
    (PyYAML alone keeps the last of two ``train:`` sections and drops the first without a word)."""


def _mapping_without_repeats(loader, node, deep=False):
    first_line = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in first_line:
            raise yaml.constructor.ConstructorError(
                None, None, f"the key {key!r} appears twice (first on line {first_line[key] + 1})",
                key_node.start_mark)
        first_line[key] = key_node.start_mark.line
    return yaml.SafeLoader.construct_mapping(loader, node, deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_repeats)


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                   |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
                   |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
                   |[-+]?\.(?:inf|Inf|INF)
                   |\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."),
)


class _Dumper(yaml.SafeDumper):
    """Block-style sections, flow-style lists: ``encoder_filters: [32, 64]``."""


_Dumper.add_representer(list, lambda dumper, data: dumper.represent_sequence(
    "tag:yaml.org,2002:seq", data, flow_style=True))


def parse_yaml(text: str):
    return yaml.load(text, Loader=_Loader)


# Keys whose value may take one of several shapes; everything else must match
# the type of its default.
FLEXIBLE_TYPES = {
    # a square size or [height, width]
    "data.image_size": "size",
    "data.augment.resize": "size",
}

class SubsetOf(list):
    """A list setting whose every entry is one of these (each at most once)."""

    def admits(self, value) -> bool:
        return isinstance(value, list) and len(set(map(str, value))) == len(value) and all(v in self for v in value)


# Choices that hold for every model; models add their own through the registry.
COMMON_CHOICES = {
    "data.channels": [1, 3],
    "data.value_range": [[0, 1], [-1, 1]],
    "data.on_error": ["fail", "skip"],
    "data.validate": ["quick", "full", "none"],
    "data.split": ["train", "test", "all"],
    "data.sampler": ["shuffle", "pk"],
    "train.verbose": [0, 1, 2],
    "train.precision": ["float32", "mixed_bfloat16", "mixed_float16"],
    "data.resize_method": ["bilinear", "area", "nearest", "bicubic"],
    "train.distribute": ["auto", "mirrored", "multiworker", "none"],
    "eval.metric": ["none", "fid", "kid", "sharpness"],
    "eval.backbone": ["fid_inception", "keras_imagenet"],
    "eval.precision": ["float32", "bfloat16"],
    "eval.also": SubsetOf(["kid", "precision_recall", "density_coverage"]),
}

@dataclass(frozen=True)
class Range:
    """The values a number in a config may take: ``low``..``high``, each end open or closed."""

    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False

    def __contains__(self, value) -> bool:
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below

    def describe(self) -> str:
        if self.high == math.inf:
            return f"{'>' if self.low_open else '>='} {self.low:g}"
        if self.low == -math.inf:
            return f"{'<' if self.high_open else '<='} {self.high:g}"
        return f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"


# TensorFlow counts (shapes, steps, seeds) in 32 bits: a larger integer cannot be a size; and the models compute in
# float32, where a number beyond its largest is infinity.
INT32_MAX = 2**31 - 1
FLOAT32_MAX = 3.4028234663852886e38
COUNT = Range(1, INT32_MAX)              # every integer, unless its key says otherwise
NON_NEGATIVE_COUNT = Range(0, INT32_MAX)  # 0 means never, none or skip
POSITIVE = Range(0.0, low_open=True)      # rates, scales, temperatures
NON_NEGATIVE = Range(0.0)                 # loss weights (0 turns the term off), minutes
SHARE = Range(0.0, 1.0)                   # a fraction, either end allowed
# Blocks per stage of a network: each is built layer by layer in Python, so a count in the millions would
# build for hours before it failed; the deepest published ResNet stages have a few hundred.
BLOCKS = Range(1, 1000)
# Critic updates within one training step: unrolled into the step's traced graph, so tracing time grows with
# the count (the papers use 1 to 5); in the tens of thousands a run would trace for hours.
UNROLLED_STEPS = Range(1, 100)
OPEN_SHARE = Range(0.0, 1.0, low_open=True, high_open=True)
BELOW_ONE = Range(0.0, 1.0, high_open=True)  # momentum-like factors, dropout

# Every integer in a config is a size or a count (COUNT), and every float must be finite, except where
# a key names its own range: seeds, verbosity, "every N" settings where 0 means never, a threshold in
# ADU; models add their own through the registry (``ranges=``). Ranges (data.value_range) are checked
# by their choices.
RANGES = {
    "train.seed": NON_NEGATIVE_COUNT, "eval.reference_seed": NON_NEGATIVE_COUNT,
    "train.verbose": NON_NEGATIVE_COUNT, "eval.every": NON_NEGATIVE_COUNT, "samples.every": NON_NEGATIVE_COUNT,
    "data.pxd_threshold": NON_NEGATIVE_COUNT, "checkpoint.every_steps": NON_NEGATIVE_COUNT,
    "checkpoint.every_minutes": NON_NEGATIVE, "data.test_fraction": OPEN_SHARE,
    # A sample grid is one picture: beyond a few thousand images it is neither drawn fast nor read.
    "samples.count": Range(1, 4096),
}
# An optimizer's settings, by name, in any ``optimizer`` or ``optimizers.<network>`` section.
OPTIMIZER_RANGES = {
    "learning_rate": POSITIVE, "epsilon": POSITIVE, "beta_1": BELOW_ONE, "beta_2": BELOW_ONE, "rho": BELOW_ONE,
    "momentum": BELOW_ONE, "clipnorm": POSITIVE, "clipvalue": POSITIVE, "global_clipnorm": POSITIVE,
}
NOT_COUNTS = ("data.value_range",)
# Keys whose default is null, and what they take when set (a value of that type).  A key not listed
# here refuses null from a user unless its model's default is null itself (re-ID's train.epochs).
OPTIONAL = {
    "data.crop": 1, "data.limit": 1, "data.test_fraction": 0.5, "data.augment.resize": "size",
    "train.steps_per_epoch": 1, "train.devices": ["/cpu:0"], "eval.reference_seed": 0, "eval.weights": "",
    "model.clip_value": 1.0, "model.beta_schedule.start": 0.5, "model.beta_schedule.end": 0.5,
    "model.beta_schedule.ramp_fraction": 0.5,
}

# Sections a model YAML may add on top of base.yaml (their keys are the model's own).
MODEL_SECTIONS = ("model", "optimizer", "optimizers", "loss")
SMOKE_KEY = "smoke"
READINGS_KEY = "readings"
OWN_READING = "ours"  # the sections as written: no overlay


def find_config_dir() -> Path:
    """Where the default YAMLs live: $KERAS_GENS_CONFIGS, else the package's own ``keras_gens/configs`` (package
    data, read through importlib.resources, so it is found however the package was installed; the source
    tree's ``configs`` is a link to it)."""
    from importlib import resources

    candidates = [Path(os.environ["KERAS_GENS_CONFIGS"])] if os.environ.get("KERAS_GENS_CONFIGS") else []
    candidates.append(Path(str(resources.files("keras_gens") / "configs")))
    for c in candidates:
        if (c / "base.yaml").is_file():
            return c
    raise ConfigError(
        "cannot find the default configs (base.yaml); looked in: "
        + ", ".join(str(c) for c in candidates)
        + ". Reinstall keras_gens, or set KERAS_GENS_CONFIGS to a folder of its configs."
    )


class Config(dict):
    """A nested dict with attribute access (``cfg.train.epochs``) and dotted lookups."""

    def __getattr__(self, key):
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None

    def __setattr__(self, key, value):
        self[key] = value

    def __deepcopy__(self, memo):
        return Config.wrap(copy.deepcopy(self.to_dict(), memo))

    @staticmethod
    def wrap(value):
        if isinstance(value, Mapping):
            return Config({k: Config.wrap(v) for k, v in value.items()})
        if isinstance(value, list):
            return [Config.wrap(v) for v in value]
        return value

    def to_dict(self) -> dict:
        def unwrap(v):
            if isinstance(v, Mapping):
                return {k: unwrap(x) for k, x in v.items()}
            if isinstance(v, list):
                return [unwrap(x) for x in v]
            return v

        return unwrap(self)

    def to_yaml(self) -> str:
        return yaml.dump(self.to_dict(), Dumper=_Dumper, sort_keys=False, default_flow_style=False)


# ---------------------------------------------------------------- loading


def load_yaml(path) -> dict:
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path} is a folder, not a config file")
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = parse_yaml(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path} is not UTF-8 text (byte {exc.start} cannot be read)") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or " ".join(str(exc).split())
        raise ConfigError(f"config file {path} is not valid YAML{where}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of sections, not {type(data).__name__}")
    return data


EXTENDS_KEY = "extends"


def load_model_yaml(path: Path, _seen=()) -> dict:
    """A model YAML with its ``extends: other.yaml`` chain merged in (this file's values win).

    Variants of one model (``dcgan_oct`` of ``dcgan``) state only what differs."""
    data = load_yaml(path)
    parent = data.pop(EXTENDS_KEY, None)
    if parent is None:
        return data
    parent_path = path.parent / str(parent)
    if parent_path in _seen or parent_path == path:
        raise ConfigError(f"{path}: 'extends: {parent}' makes a cycle")
    if not parent_path.is_file():
        raise ConfigError(f"{path}: 'extends: {parent}' names no file ({parent_path})")
    return _deep_update(load_model_yaml(parent_path, (*_seen, path)), data)


def _deep_update(base: dict, update: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in update.items():
        # A mapping with a `name` (an optimizer, a schedule) is one object: replaced whole, never mixed.
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping) and "name" not in value:
            out[key] = _deep_update(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def resolve(
    model_yaml: Path,
    *,
    user_file=None,
    overrides: Iterable[str] = (),
    smoke: bool = False,
    choices: Mapping[str, list] | None = None,
    ranges: Mapping[str, Range] | None = None,
) -> Config:
    """Build the resolved config of one model (see the module docstring for the layering).

    ``choices`` and ``ranges``: the model's own (its registration's), beside the common ones."""
    config_dir = model_yaml.parent
    base = load_yaml(config_dir / "base.yaml")
    base_smoke = base.pop(SMOKE_KEY, {}) or {}  # what every model's smoke run shares (evaluation sizes)
    model_part = load_model_yaml(model_yaml)
    smoke_overlay = {**base_smoke, **(model_part.pop(SMOKE_KEY, {}) or {})}
    readings = model_part.pop(READINGS_KEY, None) or {}

    # The model YAML may add its own sections; inside base's sections it may
    # only set keys base knows.
    defaults = copy.deepcopy(base)
    for section, values in model_part.items():
        if section in defaults:
            defaults[section] = _merge(defaults[section], values, section, source=str(model_yaml))
        elif section in MODEL_SECTIONS:
            defaults[section] = values
        else:
            raise ConfigError(
                f"{model_yaml}: unknown section '{section}'. Sections: "
                + ", ".join(sorted(set(defaults) | set(MODEL_SECTIONS)))
            )

    user_settings = load_yaml(user_file) if user_file is not None else None
    reading_overlay = {}
    if readings:
        reading = chosen_reading(defaults, user_settings, overrides)
        allowed = [OWN_READING, *readings]
        if reading not in allowed:
            raise ConfigError(f"'model.reading' must be one of {', '.join(allowed)}; got {reading!r} "
                              f"(the readings of the paper that {model_yaml.name} offers)")
        defaults["model"]["reading"] = reading
        reading_overlay = readings.get(reading) or {}

    cfg = defaults
    for key, value in reading_overlay.items():
        set_dotted(cfg, key, value, source=f"{model_yaml} (readings.{cfg['model']['reading']})")
    if smoke:
        for key, value in smoke_overlay.items():
            set_dotted(cfg, key, value, source=f"{model_yaml} (smoke)")
    if user_settings is not None:
        cfg = _merge(cfg, user_settings, "", source=str(user_file), strict=True)
    cfg = apply_overrides(cfg, overrides)
    validate_choices(cfg, {**COMMON_CHOICES, **(choices or {})})
    validate_values(cfg, {**RANGES, **(ranges or {})}, OPTIONAL, NOT_COUNTS)
    validate_batch_shape(cfg)
    validate_scores(cfg)
    return Config.wrap(cfg)


def chosen_reading(defaults: Mapping, user_settings: Mapping | None, overrides: Iterable[str]):
    """``model.reading`` as the user file and the overrides leave it (the last override wins), found before
    the layers are merged: settings that only the chosen reading makes valid (an Adam beta_1 where the
    default optimizer is RMSprop) must not fail a merge without it."""
    reading = defaults.get("model", {}).get("reading")
    if isinstance(user_settings, Mapping) and isinstance(user_settings.get("model"), Mapping):
        reading = user_settings["model"].get("reading", reading)
    for item in overrides:
        key, _, text = item.partition("=")
        if key.strip() == "model.reading":
            reading = override_value(text)
    return reading


def validate_scores(cfg: Mapping):
    """``eval.also`` adds scores to FID's or KID's feature pass: with another metric it would do nothing."""
    scoring = cfg.get("eval", {})
    if scoring.get("also") and scoring.get("metric") not in ("fid", "kid"):
        raise ConfigError(f"'eval.also' ({', '.join(map(str, scoring['also']))}) adds scores to FID's or KID's "
                          f"features: set eval.metric=fid or kid (it is {scoring.get('metric')!r}), or eval.also=[]")


def validate_batch_shape(cfg: Mapping):
    """A P×K batch (``data.sampler: pk``) must be exactly ``train.batch_size`` images.

    (Division over replicas is checked when the strategy, and so the replica count, is known.)"""
    data, train = cfg.get("data", {}), cfg.get("train", {})
    if data.get("sampler") != "pk":
        return
    pk = data.get("pk")
    if not isinstance(pk, list) or len(pk) != 2:
        raise ConfigError(f"'data.pk' must be [P, K] (P identities × K images each); got {pk!r}")
    if train.get("batch_size") != pk[0] * pk[1]:
        raise ConfigError(f"with data.sampler=pk a batch holds P×K = {pk[0]}×{pk[1]} = {pk[0] * pk[1]} images "
                          f"(data.pk), but train.batch_size is {train.get('batch_size')}; set them to agree")


def apply_overrides(cfg: dict, overrides: Iterable[str], source: str = "command line") -> dict:
    """Apply ``a.b.c=value`` strings; values are parsed as YAML (``[8, 16]``, ``true``, ``1e-3``)."""
    cfg = copy.deepcopy(dict(cfg))
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"{source}: override '{item}' must look like key=value (e.g. train.epochs=2)")
        key, text = item.split("=", 1)
        value = override_value(text)
        if isinstance(value, (dict, list)) and isinstance(_lookup(cfg, key.strip()), str):
            value = text.strip()  # a string setting takes the text as typed: data.source=folder: is no mapping
        set_dotted(cfg, key.strip(), value, source, strict=True)
    return cfg


def _lookup(cfg: Mapping, key: str):
    """The value at dotted ``key``, or None where there is none."""
    node = cfg
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def override_value(text: str):
    """The value of a ``key=value`` override: YAML, or the text itself when it is not valid YAML."""
    try:
        return parse_yaml(text) if text.strip() else None
    except yaml.YAMLError:
        return text


def set_dotted(cfg: dict, key: str, value: Any, source: str, strict: bool = False):
    """Set ``cfg['a']['b']['c'] = value`` for ``key='a.b.c'``, checking the key and the type.

    ``strict``: a user's setting, which may be null only where null means something (``OPTIONAL``)."""
    parts = key.split(".")
    node = cfg
    for depth, part in enumerate(parts[:-1]):
        here = ".".join(parts[: depth + 1])
        if part not in node:
            _unknown_key(here, node, source)
        node = node[part]
        if not isinstance(node, dict):
            raise ConfigError(f"{source}: '{here}' is a value, not a section; cannot set '{key}'")
    leaf = parts[-1]
    if leaf not in node:
        _unknown_key(key, node, source)
    node[leaf] = _coerce(key, node[leaf], value, source, strict)


def merge(defaults: Mapping, override: Mapping, source: str) -> dict:
    """``override`` (a user's file) laid over ``defaults``, every key and type checked against them."""
    return _merge(dict(defaults), override, "", source, strict=True)


def _merge(default: Any, override: Any, path: str, source: str, strict: bool = False) -> Any:
    if isinstance(default, dict):
        if not isinstance(override, dict):
            raise ConfigError(f"{source}: '{path}' is a section; give it a mapping, not {override!r}")
        if (path.split(".")[0] in ("optimizer", "optimizers") and "name" in default
                and override.get("name", default["name"]) != default["name"]):
            # Another optimizer, e.g. adam in place of rmsprop: it replaces the default whole
            # (its own keys, such as beta_1, are not the default's); make_optimizer checks them.
            return copy.deepcopy(override)
        out = copy.deepcopy(default)
        for key, value in override.items():
            sub = f"{path}.{key}" if path else key
            if key not in default:
                _unknown_key(sub, default, source)
            out[key] = _merge(default[key], value, sub, source, strict)
        return out
    return _coerce(path, default, override, source, strict)


def _unknown_key(dotted: str, section: Mapping, source: str):
    leaf = dotted.split(".")[-1]
    valid = sorted(section.keys())
    hint = difflib.get_close_matches(leaf, valid, n=1)
    msg = f"{source}: unknown config key '{dotted}'."
    if hint:
        parent = dotted.rsplit(".", 1)[0] + "." if "." in dotted else ""
        msg += f" Did you mean '{parent}{hint[0]}'?"
    msg += " Valid keys here: " + ", ".join(valid)
    raise ConfigError(msg)


def _type_name(value) -> str:
    return {bool: "true/false", int: "an integer", float: "a number", str: "a string",
            list: "a list", dict: "a section"}.get(type(value), type(value).__name__)


def _coerce(key: str, default: Any, value: Any, source: str, strict: bool = False) -> Any:
    """Check ``value`` against the type of ``default`` and return it in that type.

    ``strict``: null only where the default is null or the key is ``OPTIONAL``."""
    def bad(expected):
        if key in OPTIONAL and "null" not in expected:
            expected += " or null"
        raise ConfigError(f"{source}: '{key}' must be {expected}, got {value!r}")

    if strict and value is None and default is not None and key not in OPTIONAL and not _optimizer_setting(key):
        bad(f"{_type_name(default)} (it has no null setting)")

    kind = FLEXIBLE_TYPES.get(key)
    if kind == "size" and value is None and (default is None or key in OPTIONAL):
        return None  # a size left to the data (the federated configs' data.image_size), or no resize
    if kind == "size":
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
        if (isinstance(value, list) and len(value) == 2
                and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)):
            return value
        bad("a positive integer or [height, width]")
    if default is None:
        if value is not None and key in OPTIONAL:
            return _coerce(key, OPTIONAL[key], value, source)
        return value
    if value is None:
        return value
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        bad("true or false")
    if isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        bad("an integer")
    if isinstance(default, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)  # YAML 1.1 reads '1e-3' as a string
            except ValueError:
                pass
        bad("a number")
    if isinstance(default, str):
        if isinstance(value, str):
            return value
        bad("a string")
    if isinstance(default, list):
        if not isinstance(value, list):
            bad("a list, e.g. [1, 2]")
        if not value and default and all(isinstance(v, (int, list)) for v in default):
            bad("a list of at least one entry (widths, blocks, sizes)")
        element_types = {type(v) for v in default}
        if len(element_types) == 1 and value:
            proto = default[0]
            return [_coerce(f"{key}[{i}]", proto, v, source) for i, v in enumerate(value)]
        return value
    if isinstance(default, dict):
        return _merge(default, value, key, source)
    return value


def validate_choices(cfg: Mapping, choices: Mapping[str, list]):
    for dotted, allowed in choices.items():
        node = cfg
        try:
            for part in dotted.split("."):
                node = node[part]
        except (KeyError, TypeError):
            continue
        if isinstance(allowed, SubsetOf):
            if not allowed.admits(node):
                raise ConfigError(f"'{dotted}' must be a list of distinct entries from "
                                  f"{', '.join(str(a) for a in allowed)}; got {node!r}")
        elif node not in allowed:
            raise ConfigError(
                f"'{dotted}' must be one of {', '.join(str(a) for a in allowed)}; got {node!r}"
            )


def validate_values(cfg: Mapping, ranges: Mapping[str, Range] = RANGES, optional: Mapping = OPTIONAL,
                    not_counts: Iterable[str] = NOT_COUNTS, prefix: str = ""):
    """Refuse a number outside its range: every float must be finite, every integer (or list of them)
    a size or count (``COUNT``) unless ``ranges`` names the key; an optimizer setting takes the range
    of its name (``OPTIMIZER_RANGES``).  A key whose default is null must hold its ``optional`` type."""
    not_counts = tuple(not_counts)
    for key, value in cfg.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            validate_values(value, ranges, optional, not_counts, dotted + ".")
            continue
        if dotted in not_counts or value is None:
            continue
        if dotted in optional and not isinstance(optional[dotted], str):
            _coerce(dotted, optional[dotted], value, "config")
        numbers = [v for v in _flat(value) if isinstance(v, (int, float)) and not isinstance(v, bool)]
        shown = "every entry " if isinstance(value, list) else ""
        if any(isinstance(v, float) and not (math.isfinite(v) and abs(v) <= FLOAT32_MAX) for v in numbers):
            raise ConfigError(f"'{dotted}' must be a finite number (at most {FLOAT32_MAX:.3g} in size, as the "
                              f"models compute in float32): {shown}got {value!r}")
        allowed = _range_of(dotted, ranges)
        if allowed is None:
            allowed = COUNT if any(isinstance(v, int) for v in numbers) else None
        if allowed is None or all(v in allowed for v in numbers):
            continue
        if allowed in (COUNT, NON_NEGATIVE_COUNT):
            high = [v for v in numbers if v > allowed.high]
            what = f"at most {allowed.high}" if high else ("0 or more" if allowed.low == 0 else "positive")
            raise ConfigError(f"'{dotted}' is a size or count: {shown}must be {what}; got {value!r}")
        raise ConfigError(f"'{dotted}' must be {allowed.describe()}: {shown}got {value!r}")


def _flat(value) -> list:
    """The entries of a value, of a list, or of a list of lists (the ResNet filters' [[64, 64, 256], ...])."""
    return [x for v in value for x in _flat(v)] if isinstance(value, list) else [value]


def _optimizer_setting(dotted: str) -> bool:
    """A key of an ``optimizer`` or ``optimizers.<network>`` section: null there means the optimizer's own
    default (``optimizer.name=sgd optimizer.beta_1=null`` drops Adam's setting)."""
    section = dotted.rpartition(".")[0]
    return section == "optimizer" or (section.startswith("optimizers.") and section.count(".") == 1)


def _range_of(dotted: str, ranges: Mapping[str, Range]) -> Range | None:
    if dotted in ranges:
        return ranges[dotted]
    return OPTIMIZER_RANGES.get(dotted.rpartition(".")[2]) if _optimizer_setting(dotted) else None


def diff(a: Mapping, b: Mapping, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two configs."""
    keys = sorted(set(a) | set(b))
    out = []
    for k in keys:
        path = f"{prefix}{k}"
        va, vb = a.get(k, "<missing>"), b.get(k, "<missing>")
        if isinstance(va, Mapping) and isinstance(vb, Mapping):
            out.extend(diff(va, vb, path + "."))
        elif va != vb:
            out.append(f"{path}: {va!r} -> {vb!r}")
    return out


def save(cfg: Config, path):
    atomic_write_text(path, cfg.to_yaml())
