"""Properties over every input a user types (hypothesis): any value of any config key of any registered model,
and any kind of path given to any command, either works (a config: trains a one-step smoke run) or is refused
with exit code 2 and one line naming the key or the path. Never a traceback, never a hang.

The commands run in this process (their ``main``), each example under an alarm; the one-step runs stop at
their first training step through the ``train_step`` fault point (``KERAS_GENS_FAULT=train_step@1:stop``),
whatever epochs the drawn config asks for. ``make test`` draws a fixed set of examples (derandomized);
``make test-slow`` draws many more (``PROPERTY_EXAMPLES``).
"""
import contextlib
import gc
import io
import math
import os
import shutil
import signal
import tempfile
from pathlib import Path
from unittest import mock

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keras_gens import registry
from keras_gens.utils import faults
from tests.helpers import HAS_FEDERATED, SMALL_VAE

SECONDS_PER_EXAMPLE = 240
EXAMPLES = {"default": 10, "slow": 400}


def leaves(section, prefix=""):
    for key, value in section.items():
        if isinstance(value, dict):
            yield from leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


# Every (model, key, default) of every registered model's smoke config.
KEYS = [(name, key, default) for name in registry.names()
        for key, default in leaves(registry.get(name).config(smoke=True).to_dict())]

EXTREME_INTS = [-(2**63), -(2**31), -1, 0, 1, 2, 3, 2**31 - 1, 2**31, 2**63 - 1]
EXTREME_FLOATS = [math.nan, math.inf, -math.inf, -0.0, 5e-324, 1e-300, 1e-6, 0.5, 0.999999, 1.0, 1.5, 1e300]
SCALARS = st.one_of(st.none(), st.booleans(), st.sampled_from(EXTREME_INTS), st.integers(-3, 70),
                    st.sampled_from(EXTREME_FLOATS), st.floats(allow_nan=True, allow_infinity=True),
                    st.text(max_size=6), st.sampled_from(["", "null", "x", "[", "{}", "1e-3", "folder:", "adam"]))


def values_near(default):
    """Any type, the extremes first; and values of the default's own shape, where most bugs hide."""
    own = []
    if isinstance(default, list) and default:
        own.append(st.lists(st.sampled_from(EXTREME_INTS[2:8]), min_size=0, max_size=len(default) + 1))
        own.append(st.lists(st.just(default[0]), min_size=0, max_size=len(default) + 1))
    if isinstance(default, (int, float)) and not isinstance(default, bool):
        own.append(st.sampled_from([0, 1, default * 2, -default, default + 1, type(default)(2**31 - 1)]))
    if isinstance(default, bool):
        own.append(st.booleans())
    # The default's own shape as often as any other type: those values reach the model and train.
    return st.one_of(SCALARS, st.lists(SCALARS, max_size=3), *own, *own)


def as_override(value) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=10**6).strip().removesuffix("...").strip()


class Hang(Exception):
    pass


@contextlib.contextmanager
def alarm(seconds):
    def ring(*_):
        raise Hang(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, ring)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def one_step_runs():
    """Every run this block starts stops at its first training step, and counts on 4 GiB of memory whatever the
    machine has free: a drawn width that the memory check lets through must not take the whole suite down."""
    from keras_gens.runner import MEMORY_ENV

    settings = {faults.ENV: "train_step@1:stop", MEMORY_ENV: "4"}
    saved = {key: os.environ.get(key) for key in settings}
    os.environ.update(settings)
    faults.reset()
    try:
        yield
    finally:
        faults.reset()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_command(main, argv) -> tuple[int, str]:
    """``main(argv)`` in this process: (exit code, what it wrote to stderr); a traceback fails the test."""
    import tensorflow as tf

    err, out = io.StringIO(), io.StringIO()
    try:
        with alarm(SECONDS_PER_EXAMPLE), one_step_runs(), contextlib.redirect_stderr(err), \
                contextlib.redirect_stdout(out):
            code = main([str(a) for a in argv])
    finally:
        tf.keras.backend.clear_session()
        gc.collect()  # a Keras model is a web of references: free a large one before the next example
    return code, err.getvalue().strip()


def works_or_is_refused_naming(code, err, argv, *names):
    if code == 0:
        return
    assert code == 2, (argv, code, err)
    assert err.startswith("error: ") and "\n" not in err, (argv, err)
    assert any(name in err for name in names), (argv, names, err)


def examples(kind):
    return int(os.environ.get("PROPERTY_EXAMPLES", EXAMPLES[kind]))


# ---------------------------------------------------------------- every key of every model


def config_property(case):
    from keras_gens.cli import train

    (name, key, default), value = case
    out = Path(tempfile.mkdtemp(prefix="property-run-"))
    argv = [name, "--smoke", "--out", out / "run", "train.verbose=0", f"{key}={as_override(value)}"]
    try:
        code, err = run_command(train.main, argv)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    works_or_is_refused_naming(code, err, argv, key)


CASES = st.sampled_from(KEYS).flatmap(lambda k: st.tuples(st.just(k), values_near(k[2])))
COMMON = dict(deadline=None, database=None, derandomize=True, print_blob=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@settings(max_examples=examples("default"), **COMMON)
@given(case=CASES)
def test_any_value_of_any_key_trains_one_step_or_is_refused_naming_the_key(case):
    config_property(case)


@pytest.mark.slow
@settings(max_examples=examples("slow"), **{**COMMON, "derandomize": False})
@given(case=CASES)
def test_any_value_of_any_key_trains_one_step_or_is_refused_naming_the_key_many_more(case):
    config_property(case)


# ---------------------------------------------------------------- every path of every command

PATH_KINDS = ("file", "empty folder", "folder of a user's files", "missing", "read-only", "under a file",
              "the run itself", "inside the run's checkpoints", "empty string")


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    from keras_gens import runner

    out = tmp_path_factory.mktemp("property-trained") / "run"
    runner.train("vae", smoke=True, out=out, overrides=[*SMALL_VAE, "train.epochs=1", "train.verbose=0"],
                 log=lambda *a: None)
    return out


def make_path(kind: str, root: Path, run: Path) -> str:
    if kind == "file":
        (root / "a_file").write_text("mine")
        return str(root / "a_file")
    if kind == "empty folder":
        (root / "empty").mkdir()
        return str(root / "empty")
    if kind == "folder of a user's files":
        (root / "mine").mkdir()
        (root / "mine" / "notes.txt").write_text("mine")
        return str(root / "mine")
    if kind == "missing":
        return str(root / "new" / "deeper")
    if kind == "read-only":
        (root / "locked").mkdir()
        return str(root / "locked" / "inside")
    if kind == "under a file":
        (root / "a_file").write_text("mine")
        return str(root / "a_file" / "below")
    if kind == "the run itself":
        return str(run)
    if kind == "inside the run's checkpoints":
        return str(run / "checkpoints" / "x")
    return ""


def _commands():
    """(command, path argument, argv with PATH where the drawn path goes): every path a command takes."""
    from keras_gens.cli import (compare, evaluate, export, generate, ocgan, pxd_events, results, train)

    tiny = [*SMALL_VAE, "train.epochs=1", "train.verbose=0"]
    fed = ["federated.rounds=1", "partition.num_clients=4", "federated.clients_per_round=2", "run.verbose=0",
           "federated.hidden_units=[4]"]
    commands = {
        "train --out": (train.main, ["vae", "--smoke", *tiny, "--out", "PATH"]),
        "train --config": (train.main, ["vae", "--smoke", *tiny, "--config", "PATH", "--out", "OUT"]),
        "train --data folder:": (train.main, ["vae", "--smoke", *tiny, "--data", "folder:PATH", "--out", "OUT"]),
        "train --data npz:": (train.main, ["vae", "--smoke", *tiny, "--data", "npz:PATH", "--out", "OUT"]),
        "export RUN": (export.main, ["PATH", "--out", "OUT"]),
        "export --out": (export.main, ["RUN", "--out", "PATH"]),
        "generate SRC": (generate.main, ["PATH", "--n", "2", "--out", "OUT"]),
        "generate --out": (generate.main, ["RUN", "--n", "2", "--out", "PATH"]),
        "generate --grid": (generate.main, ["RUN", "--n", "2", "--out", "OUT", "--grid", "PATH"]),
        "evaluate --fake": (evaluate.main, ["sharpness", "--fake", "PATH", "--n", "4"]),
        "evaluate pxd --run": (evaluate.main, ["pxd", "--run", "PATH"]),
        "compare --out": (compare.main, ["vae", "--smoke", *tiny, "--samples", "4", "--pairs", "2", "--fid", "off",
                                         "--out", "PATH"]),
        "ocgan --out": (ocgan.main, ["--smoke", "train.epochs=1", "--metric", "sharpness", "--samples", "4",
                                     "--out", "PATH"]),
        "results --out": (results.main, ["reid", "--budget", "tiny", "--jobs", "1", "--out", "PATH",
                                         "--report", "OUT/RESULTS.md"]),
        "results --report": (results.main, ["reid", "--budget", "tiny", "--jobs", "1", "--out", "OUT",
                                            "--report", "PATH"]),
        "pxd_events SRC": (pxd_events.main, ["PATH", "--events", "1", "--out", "OUT/events.npz"]),
        "pxd_events --out": (pxd_events.main, ["RUN", "--events", "1", "--out", "PATH"]),
    }
    if HAS_FEDERATED:
        from federated import grid, simulate

        commands.update({
            "federated.simulate --out": (simulate.main, [*fed, "--out", "PATH"]),
            "federated.simulate --config": (simulate.main, [*fed, "--config", "PATH", "--out", "OUT"]),
            "federated.grid --out": (grid.main, [*fed, "--grids", "algorithms", "--out", "PATH"]),
        })
    return commands


COMMANDS = sorted(_commands())
# Commands whose success is long (they train several models or start TFF): the default suite draws their
# refusals only; make test-slow draws every path for them too.
LONG = {"compare --out", "ocgan --out", "results --out", "results --report", "federated.simulate --out",
        "federated.simulate --config", "federated.grid --out"}
SUCCEEDING = {"empty folder", "missing"}


def path_property(command, kind, trained_run):
    main, template = _commands()[command]
    root = Path(tempfile.mkdtemp(prefix="property-paths-"))
    try:
        run = root / "run"
        shutil.copytree(trained_run, run)
        path = make_path(kind, root, run)
        argv = [a.replace("PATH", path).replace("RUN", str(run)).replace("OUT", str(root / "out"))
                for a in template]
        locked = root / "locked"
        real_access = os.access
        # "Read-only" as a user without write permission meets it (the suite may run as root).
        with mock.patch.object(os, "access", lambda p, m: False if Path(p) == locked else real_access(p, m)):
            code, err = run_command(main, argv)
        # The drawn path, or another path of the command that it refuses first (a VAE run is no PXD generator).
        others = [a for a in argv if a.startswith(str(root)) and a != path]
        works_or_is_refused_naming(code, err, argv, *([path] if path else ["is empty", "needs a path"]), *others)
    finally:
        shutil.rmtree(root, ignore_errors=True)


PATH_CASES = st.tuples(st.sampled_from(COMMANDS), st.sampled_from(PATH_KINDS))


@settings(max_examples=examples("default"), **COMMON)
@given(case=PATH_CASES.filter(lambda c: not (c[0] in LONG and c[1] in SUCCEEDING)))
def test_any_path_given_to_any_command_works_or_is_refused_naming_it(case, trained_run):
    path_property(*case, trained_run)


@pytest.mark.slow
@settings(max_examples=examples("slow"), **{**COMMON, "derandomize": False})
@given(case=PATH_CASES)
def test_any_path_given_to_any_command_works_or_is_refused_naming_it_many_more(case, trained_run):
    path_property(*case, trained_run)
