"""What a run directory is, and how to get a trained model back out of one.

The runner writes run directories; export, generate, the evaluations and the
callbacks read them.  They all depend on this module, never on each other:
    run.yaml, config.yaml   what was trained on what (``write_run_info``, ``read_run_info``)
    checkpoints/ckpt-N      the model after epoch N (``latest_checkpoint``, ``checkpoint_epoch``)
    checkpoints/within_epoch/epochE-stepS
                            the run S training steps into epoch E (``checkpoint.every_steps`` /
                            ``every_minutes``): only a resumed run reads these (``resume_points``)
    export/<version>/       SavedModels (``saved_model_dir`` finds one)
"""
from __future__ import annotations

import contextlib
from pathlib import Path

from keras_gens import config as config_lib
from keras_gens import registry
from keras_gens.errors import RunDirError
from keras_gens.models.base import DataInfo
from keras_gens.outputs import Kind, register_kind
from keras_gens.utils.io import atomic_write_text


def is_run_dir(path) -> bool:
    path = Path(path)
    return (path / "run.yaml").is_file() and (path / "config.yaml").is_file()


# What a run directory holds of its own; other commands' output may sit beside it (RUN/export/<N>,
# a generated set in RUN/generated), never among these.
RUN = register_kind(Kind("run", "a training run", "python -m keras_gens.train",
                         own=("config.yaml", "run.yaml", "metrics.csv", "checkpoints", "samples", "logs", "figures"),
                         recognizes=is_run_dir))


def saved_model_dir(src) -> Path | None:
    """``src`` itself if it is a SavedModel, else its highest numbered version, else None."""
    src = Path(src)
    if (src / "saved_model.pb").is_file():
        return src
    versions = sorted((int(p.name) for p in src.glob("*") if p.name.isdigit() and (p / "saved_model.pb").is_file()))
    return src / str(versions[-1]) if versions else None


def _found(folder: Path, pattern: str, position) -> list[tuple[tuple[int, int], str]]:
    """``(position in training, prefix)`` of each checkpoint in ``folder`` whose index file's name
    matches ``pattern``, newest first; ``position`` maps the pattern's numbers to (epochs done, steps)."""
    import re

    found = []
    for index in folder.glob("*.index") if folder.is_dir() else ():
        match = re.fullmatch(pattern, index.name)
        if match:
            found.append((position(*map(int, match.groups())), str(index.with_suffix(""))))
    return sorted(found, reverse=True)


def _after_epochs(run_dir):
    return _found(Path(run_dir) / "checkpoints", r"ckpt-(\d+)\.index", lambda epochs: (epochs, 0))


def _within_epochs(run_dir):
    return _found(within_epoch_dir(run_dir), r"epoch(\d+)-step(\d+)\.index", lambda epoch, step: (epoch - 1, step))


def checkpoint_paths(run_dir) -> list[str]:
    """The prefixes of the run's checkpoints (``checkpoints/ckpt-N``), newest first.

    Found from the files themselves, not from TensorFlow's ``checkpoint`` state file: a damaged
    state file must not make a run look untrained (it would start over silently).  A save killed
    midway leaves only a temporary folder, which is not a ``ckpt-N.index``."""
    return [path for _, path in _after_epochs(run_dir)]


def latest_checkpoint(run_dir) -> str | None:
    paths = checkpoint_paths(run_dir)
    return paths[0] if paths else None


WITHIN_EPOCH = "within_epoch"


def within_epoch_dir(run_dir) -> Path:
    return Path(run_dir) / "checkpoints" / WITHIN_EPOCH


def within_epoch_prefix(run_dir, epoch: int, step: int) -> Path:
    """Where the checkpoint ``step`` training steps into (1-based) epoch ``epoch`` goes."""
    return within_epoch_dir(run_dir) / f"epoch{epoch}-step{step}"


def within_epoch_paths(run_dir) -> list[str]:
    """The prefixes of the run's within-epoch checkpoints, newest first (found from their index files)."""
    return [path for _, path in _within_epochs(run_dir)]


def resume_points(run_dir) -> list[str]:
    """Every checkpoint a resumed run may continue from, newest first: after epoch N (``ckpt-N``)
    comes before any point within epoch N + 1 (``epochN+1-stepS``)."""
    return [path for _, path in sorted(_after_epochs(run_dir) + _within_epochs(run_dir), reverse=True)]


def remove_checkpoint(prefix):
    """Delete one checkpoint's files, its index first: a deletion cut short leaves no index that
    points at missing data.  Also removes what a write cut short leaves (``<prefix>_temp``)."""
    import shutil

    prefix = Path(prefix)
    index = prefix.with_name(prefix.name + ".index")
    if index.exists():
        index.unlink()
    for leftover in prefix.parent.glob(f"{prefix.name}.data-*"):
        leftover.unlink(missing_ok=True)
    for temp in prefix.parent.glob(f"{prefix.name}_temp*"):
        shutil.rmtree(temp, ignore_errors=True) if temp.is_dir() else temp.unlink(missing_ok=True)


def remove_incomplete_checkpoints(run_dir) -> list[Path]:
    """Delete what checkpoint writes cut short left (TensorFlow's ``<prefix>_temp`` folders, its
    ``<file>.tempstate<n>`` files and the ``checkpoint.tmp<uuid>`` of its state file's atomic write,
    data files whose index was never written); returns what was removed.  Only for a run directory
    this process holds."""
    import shutil

    removed = []
    for folder in (Path(run_dir) / "checkpoints", within_epoch_dir(run_dir)):
        cut_short = ("*_temp*", "*.tempstate*", "checkpoint.tmp*")
        for path in [p for pattern in cut_short for p in folder.glob(pattern)] if folder.is_dir() else ():
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
            removed.append(path)
        for data in folder.glob("*.data-*") if folder.is_dir() else ():
            if not data.with_name(data.name.split(".data-", 1)[0] + ".index").exists():
                data.unlink(missing_ok=True)
                removed.append(data)
    return removed


def restore_readable(checkpoint, run_dir, log=print, *, within_epoch=False):
    """Restore the newest of the run's checkpoints that can be read; returns ``(path, status)``.

    A checkpoint whose files are truncated, empty, corrupt or missing is named and skipped for the
    one before it; when none can be read the run stops with a message, not a TensorFlow traceback.
    (A checkpoint that reads but does not match the model is not damage: that error goes up.)
    ``within_epoch``: also consider the checkpoints written within an epoch (a resumed run does;
    export, generate and the evaluations read the model after a whole epoch).  ``checkpoint`` may
    be a function of the path that returns the ``tf.train.Checkpoint`` to restore it with."""
    import tensorflow as tf

    damaged = []
    for path in resume_points(run_dir) if within_epoch else checkpoint_paths(run_dir):
        try:
            return path, (checkpoint if isinstance(checkpoint, tf.train.Checkpoint) else checkpoint(path)).restore(path)
        except (tf.errors.OpError, IndexError) as exc:  # IndexError: "Read less bytes than requested"
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            damaged.append(f"{Path(path).name} ({reason[:160]})")
            log(f"warning: checkpoint {path} cannot be read ({reason[:160]}); trying the one before it")
    if damaged:
        raise RunDirError(f"no checkpoint in {Path(run_dir) / 'checkpoints'} can be read: {'; '.join(damaged)}. "
                          f"Move {run_dir} aside (or use another --out) to start over.")
    raise RunDirError(f"{run_dir} holds no checkpoint yet; train it first")


def checkpoint_epoch(run_dir) -> int | None:
    """The epoch the latest checkpoint was written after (its number), or None."""
    path = latest_checkpoint(run_dir)
    if path is None:
        return None
    try:
        return int(Path(path).name.rsplit("-", 1)[1])
    except (IndexError, ValueError):
        return None


def write_run_info(run_dir: Path, name: str, source):
    """``run.yaml``: what export and generate need without re-reading the data."""
    import tensorflow as tf
    import yaml

    import keras_gens

    info = {
        "model": name,
        "image_shape": list(source.image_shape),
        "num_classes": int(source.num_classes),
        "class_names": [str(c) for c in source.class_names],
        "value_range": list(source.value_range),
        "data": source.name,
        "num_examples": source.num_examples,
        **({"class_prior": [float(p) for p in source.class_prior]} if getattr(source, "class_prior", None) else {}),
        "versions": {"keras_gens": keras_gens.__version__, "tensorflow": tf.__version__},
    }
    atomic_write_text(Path(run_dir) / "run.yaml", yaml.safe_dump(info, sort_keys=False))


def read_run_info(run_dir) -> dict:
    run_dir = Path(run_dir)
    if not is_run_dir(run_dir):
        raise RunDirError(f"{run_dir} is not a run directory (it needs run.yaml and config.yaml, "
                          "which `python -m keras_gens.train` writes)")
    return config_lib.load_yaml(run_dir / "run.yaml")


@contextlib.contextmanager
def precision(policy: str):
    """Build layers under a Keras mixed-precision policy; each layer keeps the policy it was built with,
    so the process-wide setting is restored afterwards (losses are float32 in every model)."""
    import tensorflow as tf

    previous = tf.keras.mixed_precision.global_policy()
    tf.keras.mixed_precision.set_global_policy(policy)
    try:
        yield
    finally:
        tf.keras.mixed_precision.set_global_policy(previous)


def build_from_run(run_dir, *, restore=True, compute_precision=None):
    """``(name, config, model, run_info)`` of a run directory, its latest checkpoint restored.

    ``compute_precision``: build under this policy instead of the run's ``train.precision``
    (the weights are float32 either way, so a float32 run can serve in bfloat16)."""
    import tensorflow as tf

    run_dir = Path(run_dir)
    info = read_run_info(run_dir)
    cfg = config_lib.Config.wrap(config_lib.load_yaml(run_dir / "config.yaml"))
    spec = registry.get(info["model"])
    prior = info.get("class_prior")
    data_info = DataInfo(tuple(info["image_shape"]), int(info["num_classes"]), tuple(info["value_range"]),
                         None if prior is None else tuple(prior))
    with precision(compute_precision or cfg.train.get("precision", "float32")):
        model = spec.build(cfg, data_info)
    if restore:
        _, status = restore_readable(tf.train.Checkpoint(model=model), run_dir)
        status.expect_partial()
    return info["model"], cfg, model, info


# ---------------------------------------------------------------- one process per run directory

LOCK_FILE = ".lock"


def _process_started(pid: int) -> float | None:
    """When process ``pid`` started (seconds since the epoch), or None when there is no such process."""
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return None


def _lock_holder(path: Path) -> dict | None:
    """What a lock file says (pid, started, host, command), or None when it is unreadable."""
    import yaml

    try:
        holder = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return None
    return holder if isinstance(holder, dict) and isinstance(holder.get("pid"), int) else None


def _is_alive(holder: dict) -> bool:
    import socket

    if holder.get("host") != socket.gethostname():
        return True  # another machine's process (a shared disk): it cannot be checked from here
    started = _process_started(holder["pid"])
    # A PID the system has handed to a newer process is not the holder.
    return started is not None and abs(started - float(holder.get("started", started))) < 1.0


@contextlib.contextmanager
def hold(run_dir, log=print):
    """Hold ``run_dir`` for this process while the block runs: a second process (a train, compare,
    ocgan or federated run into the same folder) is refused with the holder's PID and command.

    The lock is ``RUN_DIR/.lock``, made with O_EXCL and removed when the block ends; one left by a
    process that no longer runs (killed, or its PID reused since) is noticed and taken over.  A
    process may hold its own directory again (a notebook re-running a cell).  Only a cluster's chief
    holds a run directory: the other workers write to scratch folders of their own."""
    import os
    import socket
    import sys
    import time

    import yaml

    run_dir = Path(run_dir)
    created = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_FILE
    me = {"pid": os.getpid(), "started": _process_started(os.getpid()) or time.time(),
          "host": socket.gethostname(), "command": " ".join([Path(sys.executable).name, *sys.argv])[:300],
          "since": time.strftime("%Y-%m-%d %H:%M:%S")}
    for _ in range(3):
        try:
            descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _lock_holder(path)
            if holder is not None and holder["pid"] != me["pid"] and _is_alive(holder):
                where = "" if holder.get("host") == me["host"] else f" on {holder.get('host')}"
                raise RunDirError(
                    f"{run_dir} is in use by process {holder['pid']}{where} ({holder.get('command', '?')}, since "
                    f"{holder.get('since', '?')}). Wait for it to finish or use another --out; if that process is "
                    f"gone, delete {path}.") from None
            if holder is not None and holder["pid"] != me["pid"]:
                log(f"{run_dir}: taking over the lock of process {holder['pid']}, which no longer runs")
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            continue
        with os.fdopen(descriptor, "w") as f:
            f.write(yaml.safe_dump(me, sort_keys=False))
        break
    else:
        raise RunDirError(f"could not take {path}: another process keeps taking it")
    try:
        yield path
    finally:
        if (_lock_holder(path) or {}).get("pid") == me["pid"]:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        if created:  # a run that failed before writing anything leaves no folder behind
            with contextlib.suppress(OSError):
                run_dir.rmdir()
