"""What the results experiments share: budgets, run directories, progress with a time estimate,
cached evaluations, claims and their verdicts, mean ± std.

Every experiment trains through ``keras_gens.runner`` (or ``federated.grid``) into ordinary run
directories under ``OUT/<experiment>/``, so re-running the command resumes them; what an
experiment measures on a finished run is cached beside it (``results_eval.json``, keyed by what
was measured and the run's checkpoint), so a finished experiment is only re-tabulated.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

BUDGETS = ("tiny", "quick", "standard")
# Budgets that check the pipeline: their models have not learned enough for any claim to be judged.
PIPELINE_BUDGETS = ("tiny", "quick")
VERDICTS = {True: "holds", False: "does not hold", None: "undecided"}


@dataclass
class Claim:
    """One claim of a paper and what our runs say of it: ``holds`` is True, False or None (not decidable).

    ``quality_bar`` is ``{"met": bool, "detail": str}``: whether the models the claim rests on reach
    their quality bars (RESULTS.md, "Does each model work?").  A claim on models below their bar, or
    whose bar was not measured, or judged at a pipeline budget, is undecided whatever ``holds`` says.
    """

    paper: str
    claim: str
    holds: bool | None
    evidence: str
    quality_bar: dict | None = None

    def verdict_at(self, budget: str) -> str:
        """``holds``, ``does not hold`` or ``undecided``: what may be said of the claim at ``budget``."""
        if budget in PIPELINE_BUDGETS or not (self.quality_bar or {}).get("met"):
            return VERDICTS[None]
        return VERDICTS[self.holds]

    def verdict_text(self, budget: str) -> str:
        """The verdict with its reason when the runs cannot decide it."""
        if budget in PIPELINE_BUDGETS:
            return f"undecided ({budget} budget: pipeline check)"
        if self.quality_bar is None:
            return "undecided (quality bar not measured)"
        if not self.quality_bar["met"]:
            return f"undecided (below the quality bar: {self.quality_bar['detail']})"
        return VERDICTS[self.holds]

    def stored(self, budget: str) -> dict:
        """The claim as claims.json keeps it: its fields, its ``verdict`` and why."""
        return {**dataclasses.asdict(self), "verdict": self.verdict_at(budget),
                "verdict_text": self.verdict_text(budget),
                "quality_bar": self.quality_bar or {"met": False, "detail": "not measured"}}


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
    spent so far over the share of planned run-epochs done (several runs may train at once)."""

    def __init__(self, log=print):
        self.log, self.total, self.done, self.started = log, 0, 0, time.perf_counter()
        self.running = {}  # label -> share of its epochs done

    def plan(self, runs: int):
        self.total += int(runs)

    def start_run(self, label: str):
        self.running[label] = 0.0
        self.log(f"[results] run {self.done + len(self.running)}/{self.total}: {label} ({self.estimate()})")

    def finish_run(self, label: str, runs: int = 1):
        """``runs``: how many of the planned runs it stood for (a federated grid's cells)."""
        self.running.pop(label, None)
        self.done += runs

    def epoch(self, label: str, epoch: int, epochs: int):
        self.running[label] = min(epoch / max(epochs, 1), 1.0)
        self.log(f"[results] {label}: epoch {epoch}/{epochs}; {self.done} of {self.total} runs done "
                 f"({self.estimate()})")

    def estimate(self) -> str:
        done = self.done + sum(self.running.values())
        elapsed = time.perf_counter() - self.started
        if done <= 0:
            return f"{format_seconds(elapsed)} elapsed"
        left = elapsed / done * max(self.total - done, 0)
        return f"{format_seconds(elapsed)} elapsed, about {format_seconds(left)} left"

    def callback(self, label: str):
        import tensorflow as tf

        progress = self

        class EpochProgress(tf.keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                progress.epoch(label, epoch + 1, int(self.params.get("epochs") or 0))

        return EpochProgress()


class _ForwardedProgress(Progress):
    """A worker process's progress: its run's start and epochs go to the parent's queue."""

    def __init__(self, events):
        super().__init__()  # it logs nothing itself: the worker's Context forwards the log lines
        self.events = events

    def start_run(self, label: str):
        self.events.put(("start", label))

    def finish_run(self, label: str, runs: int = 1):
        pass  # the parent counts a run as finished when its process returns

    def epoch(self, label: str, epoch: int, epochs: int):
        self.events.put(("epoch", label, epoch, epochs))


def format_seconds(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


@dataclass(frozen=True)
class RunSpec:
    """One training run of an experiment, in a form another process can receive: ``callbacks`` are
    picklable functions (module-level, or ``functools.partial`` of one), each making a Keras callback
    that watches the run."""

    label: str
    model: str
    overrides: tuple
    callbacks: tuple = ()
    # (key, measure, checkpoint): what ``Context.trained`` measures of the finished run, cached in its
    # folder under ``key``; measure(result) -> a JSON-able dict, picklable like the callbacks
    measure: tuple = ()


class _TrainedApart:
    """A run that a worker process trained (and measured): its folder and config at once, and its model
    only when something asks for it (a measurement that was not cached), loaded from its checkpoint."""

    def __init__(self, run_dir, config, load):
        self.run_dir, self.config, self._load = run_dir, config, load

    @functools.cached_property
    def model(self):
        return self._load().model


class Context:
    """One invocation of the results command: where runs and figures go, the budget, the seeds, and
    how many runs may train at once (``jobs``)."""

    def __init__(self, out, figures, budget: str, seeds: int, log=print, jobs: int = 1):
        from keras_gens.errors import ConfigError

        if budget not in BUDGETS:
            raise ConfigError(f"--budget must be one of {', '.join(BUDGETS)}; got {budget!r}")
        if int(seeds) < 1:
            raise ConfigError(f"--seeds must be at least 1; got {seeds}")
        if int(jobs) < 1:
            raise ConfigError(f"--jobs must be at least 1; got {jobs}")
        self.out, self.figures = Path(out), Path(figures)
        self.budget, self.seeds, self.log, self.jobs = budget, list(range(int(seeds))), log, int(jobs)
        self.progress = Progress(log)
        # TensorFlow's threads per worker (0: its default, all cores): two workers on 2 cores with the
        # default finished sooner than with one thread each (make bench-jobs)
        self.worker_threads = 0
        self.worked = False  # whether anything was trained or measured (not only re-tabulated)
        self.trained_apart = set()  # (experiment, spec) that train_all's workers trained

    def figure(self, name: str) -> Path:
        return self.figures / name

    def run_dir(self, experiment: str, label: str) -> Path:
        return self.out / experiment / label

    def train(self, experiment: str, spec: RunSpec):
        """Train (or resume, or find finished) one run into OUT/<experiment>/<label>."""
        from keras_gens import runner

        label, run_dir = f"{experiment}/{spec.label}", self.run_dir(experiment, spec.label)
        overrides = [*spec.overrides, "train.verbose=0"]

        def run(log=lambda m: None, callbacks=()):
            return runner.train(spec.model, out=run_dir, overrides=overrides, smoke=True, log=log, callbacks=callbacks)

        if (experiment, spec) in self.trained_apart:  # train_all trained and counted it
            return _TrainedApart(run_dir, runner.resolve_config(spec.model, overrides=overrides, smoke=True)[1], run)
        self.progress.start_run(label)
        result = run(lambda m: self.log(f"  {m}"),
                     [*(make() for make in spec.callbacks), self.progress.callback(label)])
        self.worked |= result.initial_epoch < result.epochs
        self.progress.finish_run(label)
        return result

    def trained(self, experiment: str, spec: RunSpec):
        """(``train``'s result, the spec's measurement of the run, or None if it names none)."""
        result = self.train(experiment, spec)
        if not spec.measure:
            return result, None
        key, measure, checkpoint = spec.measure
        return result, self.measured(result.run_dir, key, lambda: measure(result), checkpoint)

    def train_all(self, experiment: str, specs):
        """Train (and measure) the runs of ``specs``, ``jobs`` at a time, each in a process of its own; the
        experiment then asks ``train`` or ``trained`` for each run, which finds it finished and measured.

        Small models leave much of a second core idle (tracing, and launching many small ops, run on
        one thread), so two runs side by side finish sooner than one after the other. With ``jobs``
        1 (or a single run) this does nothing: ``train`` trains each run when it is asked for it."""
        specs = list(specs)
        if self.jobs < 2 or len(specs) < 2:
            return
        import multiprocessing
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

        # spawn, not fork: the parent may have started TensorFlow's threads, which a fork does not copy
        context = multiprocessing.get_context("spawn")
        with context.Manager() as manager, ProcessPoolExecutor(min(self.jobs, len(specs)), context) as pool:
            events = manager.Queue()
            pending = {pool.submit(_train_in_worker, self.out, self.figures, self.budget, len(self.seeds),
                                   experiment, spec, events, self.worker_threads): spec
                       for spec in specs}
            try:
                while pending:
                    finished, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                    self._relay(events)
                    for future in finished:
                        self.worked |= future.result()  # a worker's error is raised here
                        spec = pending.pop(future)
                        self.trained_apart.add((experiment, spec))
                        self.progress.finish_run(f"{experiment}/{spec.label}")
            except BaseException:
                # Stop the other runs now rather than let the pool wait for them: a run's checkpoints are
                # written atomically, so the next invocation resumes it from its last whole epoch.
                for future in pending:
                    future.cancel()
                for process in list(getattr(pool, "_processes", {}).values()):
                    process.terminate()
                raise
            self._relay(events)

    def _relay(self, events):
        """Pass the workers' log lines and progress on to this process's log."""
        import queue as queue_lib

        while True:
            try:
                event = events.get_nowait()
            except queue_lib.Empty:
                return
            if event[0] == "log":
                self.log(event[1])
            elif event[0] == "start":
                self.progress.start_run(event[1])
            else:
                self.progress.epoch(*event[1:])

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
            cache[stamp] = measure()
            self.worked = True
            atomic_write_text(cache_file, json.dumps(cache, indent=1, sort_keys=True))
        return cache[stamp]


def _train_in_worker(out, figures, budget, seeds, experiment, spec, events, threads) -> bool:
    """``Context.trained`` in a worker process of ``Context.train_all``: whether it trained or measured."""
    import tensorflow as tf

    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
    ctx = Context(out, figures, budget, seeds, log=lambda m: events.put(("log", m)))
    ctx.progress = _ForwardedProgress(events)
    ctx.trained(experiment, spec)
    return ctx.worked


WALL_FILE = "results_wall_seconds.txt"


def section_seconds(experiment_dir, seconds: float, worked: bool) -> float:
    """The wall-clock time an experiment took over the invocations that trained or measured something
    (an invocation that only re-tabulates finished runs adds nothing), kept in its folder of runs."""
    from keras_gens.utils.io import atomic_write_text

    path = Path(experiment_dir) / WALL_FILE
    total = float(path.read_text()) if path.is_file() else 0.0
    if worked:
        total += float(seconds)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, f"{total:.1f}\n")
    return total


def forget_section_seconds(experiment_dir):
    """Start an experiment's clock afresh when none of its runs exists (its runs were deleted to re-run it)."""
    experiment_dir = Path(experiment_dir)
    if experiment_dir.is_dir() and not any(p.is_dir() for p in experiment_dir.iterdir()):
        (experiment_dir / WALL_FILE).unlink(missing_ok=True)


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


def _cpuinfo() -> tuple[str, set]:
    """The CPU's model name and flags (Linux's /proc/cpuinfo; elsewhere what platform says, no flags)."""
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
    return name, flags


def cpu_flags() -> set:
    return _cpuinfo()[1]


def machine() -> str:
    """CPU model, cores and the vector extensions that change TensorFlow's speed."""
    import os

    name, flags = _cpuinfo()
    wanted = [f for f in ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_tile")
              if f in flags]
    return f"{name}, {os.cpu_count()} cores ({' '.join(wanted) or 'flags unknown'})"


@functools.lru_cache(maxsize=2)
def feature_extractor(precision: str = "float32"):
    """The standard FID Inception of every run a process scores (built and loaded once per precision)."""
    from keras_gens.metrics.inception import FeatureExtractor

    return FeatureExtractor(precision=precision)


# The digit judge of the quality bars (keras_gens.evaluation.digit_judge); the tiny budget trains a cheaper one,
# as it checks the pipeline only.
JUDGE_SETTINGS = {"tiny": {"epochs": 1, "limit": 500}}


def judge_settings_of(budget: str) -> tuple:
    """The judge's settings at ``budget``, hashable (``digit_judge``'s cache key, and picklable for workers)."""
    return tuple(sorted(JUDGE_SETTINGS.get(budget, {}).items()))


@functools.lru_cache(maxsize=1)
def digit_judge(settings: tuple = ()):
    """The judge of every run of a budget, trained once (then read from its cache on disk, in any process)."""
    from keras_gens.evaluation.digit_judge import train_digit_judge

    settings = dict(settings)
    return train_digit_judge(seed=0, recipe={"epochs": settings["epochs"]} if "epochs" in settings else None,
                             limit=settings.get("limit"), log=lambda m: None)
