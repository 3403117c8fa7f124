"""What the results experiments share: budgets, run directories, progress with a time estimate,
cached evaluations, claims and their verdicts, mean ± std.

Every experiment trains through ``keras_gens.runner`` (or ``federated.grid``) into ordinary run
directories under ``OUT/<experiment>/``, so re-running the command resumes them; what an
experiment measures on a finished run is cached beside it (``results_eval.json``, keyed by what
was measured and the run's checkpoint), so a finished experiment is only re-tabulated.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

BUDGETS = ("tiny", "quick", "full")
VERDICTS = {True: "holds", False: "does not hold", None: "undecided"}


@dataclass
class Claim:
    """One claim of a paper and what our runs say of it: ``holds`` is True, False or None (not decidable)."""

    paper: str
    claim: str
    holds: bool | None
    evidence: str

    @property
    def verdict(self) -> str:
        return VERDICTS[self.holds]


@dataclass
class Section:
    """An experiment's part of RESULTS.md."""

    key: str
    title: str
    body: str
    claims: list = field(default_factory=list)
    seconds: float = 0.0


class Progress:
    """Which run, which epoch, and an estimate of the time left, from the runs done so far.

    Each experiment announces how many runs it plans (``plan``); the estimate spreads the time
    spent so far over the share of planned run-epochs done."""

    def __init__(self, log=print):
        self.log, self.total, self.done, self.started = log, 0, 0.0, time.perf_counter()
        self.current = ""

    def plan(self, runs: int):
        self.total += int(runs)

    def start_run(self, label: str):
        self.current = label
        self.log(f"[results] run {int(self.done) + 1}/{self.total}: {label} ({self.estimate()})")

    def finish_run(self):
        self.done = math.floor(self.done) + 1

    def epoch(self, epoch: int, epochs: int):
        fraction = math.floor(self.done) + min(epoch / max(epochs, 1), 1.0)
        self.log(f"[results] {self.current}: epoch {epoch}/{epochs}; run {int(math.floor(self.done)) + 1} of "
                 f"{self.total} ({self._estimate(fraction)})")

    def estimate(self) -> str:
        return self._estimate(self.done)

    def _estimate(self, done: float) -> str:
        elapsed = time.perf_counter() - self.started
        if done <= 0:
            return f"{format_seconds(elapsed)} elapsed"
        left = elapsed / done * max(self.total - done, 0)
        return f"{format_seconds(elapsed)} elapsed, about {format_seconds(left)} left"

    def callback(self):
        import tensorflow as tf

        progress = self

        class EpochProgress(tf.keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                progress.epoch(epoch + 1, int(self.params.get("epochs") or 0))

        return EpochProgress()


def format_seconds(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class Context:
    """One invocation of the results command: where runs and figures go, the budget, the seeds."""

    def __init__(self, out, figures, budget: str, seeds: int, log=print):
        if budget not in BUDGETS:
            from keras_gens.errors import ConfigError

            raise ConfigError(f"--budget must be one of {', '.join(BUDGETS)}; got {budget!r}")
        if int(seeds) < 1:
            from keras_gens.errors import ConfigError

            raise ConfigError(f"--seeds must be at least 1; got {seeds}")
        self.out, self.figures = Path(out), Path(figures)
        self.budget, self.seeds, self.log = budget, list(range(int(seeds))), log
        self.progress = Progress(log)

    def figure(self, name: str) -> Path:
        return self.figures / name

    def run_dir(self, experiment: str, label: str) -> Path:
        return self.out / experiment / label

    def train(self, experiment: str, label: str, model: str, overrides, *, smoke=True, callbacks=()):
        """Train (or resume, or find finished) one run into OUT/<experiment>/<label>; ``callbacks``
        watch it besides the progress report."""
        from keras_gens import runner

        run_dir = self.run_dir(experiment, label)
        self.progress.start_run(f"{experiment}/{label}")
        started = time.perf_counter()
        result = runner.train(model, out=run_dir, overrides=[*overrides, "train.verbose=0"], smoke=smoke,
                              log=lambda m: self.log(f"  {m}"), callbacks=[*callbacks, self.progress.callback()])
        if result.initial_epoch < result.epochs:  # it trained: its wall time counts (a finished run's does not)
            add_wall_seconds(run_dir, time.perf_counter() - started)
        self.progress.finish_run()
        return result

    def measured(self, run_dir, key: str, measure, checkpoint: str | None = None) -> dict:
        """``measure()`` (a JSON-able dict) for this run's latest checkpoint, cached in the run directory.

        ``checkpoint``: the checkpoint the measurement must be of (its file name); if it is not the
        latest and was not measured when it was, the run has gone past it and the error says so."""
        from keras_gens.errors import RunDirError
        from keras_gens.run_dirs import latest_checkpoint
        from keras_gens.utils.io import atomic_write_text

        run_dir = Path(run_dir)
        cache_file = run_dir / "results_eval.json"
        cache = json.loads(cache_file.read_text()) if cache_file.is_file() else {}
        latest = Path(latest_checkpoint(run_dir) or "none").name
        stamp = f"{key}@{checkpoint or latest}"
        if stamp not in cache and checkpoint and checkpoint != latest:
            raise RunDirError(f"{run_dir} has trained past {checkpoint} (now {latest}) without its {key} scores "
                              f"being kept; delete {run_dir} and run the command again")
        if stamp not in cache:
            started = time.perf_counter()
            value = measure()
            value["eval_seconds"] = round(time.perf_counter() - started, 1)
            cache[stamp] = value
            atomic_write_text(cache_file, json.dumps(cache, indent=1, sort_keys=True))
        return cache[stamp]


WALL_FILE = "results_wall_seconds.txt"


def add_wall_seconds(run_dir, seconds: float):
    """Add to the wall-clock time spent producing a run (start-up, training, its callbacks), kept beside it
    so that a run trained over several invocations still counts all of its time."""
    from keras_gens.utils.io import atomic_write_text

    atomic_write_text(Path(run_dir) / WALL_FILE, f"{wall_seconds(run_dir) + float(seconds):.1f}\n")


def wall_seconds(run_dir) -> float:
    """The wall-clock seconds ``add_wall_seconds`` recorded for a run (0 if none)."""
    path = Path(run_dir) / WALL_FILE
    return float(path.read_text()) if path.is_file() else 0.0


def mean_std(values) -> tuple[float, float]:
    values = np.asarray([v for v in values if v is not None and np.isfinite(v)], np.float64)
    if len(values) == 0:
        return float("nan"), float("nan")
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0


def pm(values, digits: int = 1, scale: float = 1.0) -> str:
    """'mean ± std (n)' of a list of per-seed values."""
    values = [v for v in values if v is not None]
    mean, std = mean_std([v * scale for v in values])
    if not np.isfinite(mean):
        return "n/a"
    return f"{mean:.{digits}f} ± {std:.{digits}f}" if len(values) > 1 else f"{mean:.{digits}f}"


def machine() -> str:
    """CPU model, cores and the vector extensions that change TensorFlow's speed."""
    import os
    import platform

    name, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    wanted = [f for f in ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_tile")
              if f in flags]
    return f"{name}, {os.cpu_count()} cores ({' '.join(wanted) or 'flags unknown'})"
