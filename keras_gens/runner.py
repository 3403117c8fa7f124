"""The one training runner every registered model goes through.

A run directory holds:
    config.yaml     the resolved config
    checkpoints/    model, optimizers, step counter and epoch after each epoch; within_epoch/ every
                    checkpoint.every_steps steps or checkpoint.every_minutes minutes
    logs/           TensorBoard (scalars per epoch, sample grids)
    samples/        PNG grids per epoch
    figures/        for auto-encoders, at the end: random samples, held-out reconstructions, interpolations
    metrics.csv     one row per epoch

Resuming: re-running with the same run directory continues from its latest
checkpoint (``--resume auto``, the default), provided the config is the same
apart from keys that may change between sessions (``RESUMABLE_CHANGES``).
Data order and training noise are functions of the seed and the step, so the
resumed run continues exactly where the interrupted one stopped, within an epoch too.
"""
from __future__ import annotations

import contextlib
import json
import math
import re
import shutil
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import tensorflow as tf

from keras_gens import config as config_lib
from keras_gens import data as data_lib
from keras_gens import registry
from keras_gens.callbacks import (AutoencoderFigures, Checkpoints, GenerativeScores, MetricsTable, SampleGrid,
                                  all_finite)
from keras_gens.data.pipeline import FileSource
from keras_gens.data.validate import describe, find_unreadable
from keras_gens.distribute import describe_devices, is_chief, make_strategy, num_cluster_tasks, task_label
from keras_gens.errors import ConfigError, DataError, DataMissing, Interrupted, RunDirError, TrainingDiverged
from keras_gens.models.base import DataInfo
from keras_gens.outputs import check_folder, mark
from keras_gens.run_dirs import (RUN, hold, latest_checkpoint, precision, remove_incomplete_checkpoints,
                                 restore_readable, resume_points, write_run_info)
from keras_gens.utils import metrics_csv

RESUME_MODES = ("auto", "never", "require")
# Keys that may differ between a run and its resumption.
RESUMABLE_CHANGES = ("train.epochs", "train.verbose", "train.jit_compile", "train.steps_per_execution",
                     "train.distribute", "train.devices", "samples.", "checkpoint.", "data.validate", "eval.",
                     "train.precision")


@dataclass
class RunResult:
    run_dir: Path
    config: config_lib.Config
    model: tf.keras.Model
    initial_epoch: int
    epochs: int
    history: dict = field(default_factory=dict)


def default_run_dir(name: str, cfg, smoke: bool) -> Path:
    kind, _ = data_lib.parse_spec(cfg.data.source)
    return Path("runs") / f"{name}-{kind}{'-smoke' if smoke else ''}"


def resolve_config(name: str, *, config_file=None, data=None, overrides=(), smoke=False):
    spec = registry.get(name)
    # Quoted: a spec such as ``folder:`` is a string to the data loader, never a YAML mapping.
    overrides = ([f"data.source={json.dumps(str(data))}"] if data is not None else []) + list(overrides)
    return spec, spec.config(user_file=config_file, overrides=overrides, smoke=smoke)


def _allowed_change(line: str, resumable=()) -> bool:
    key = line.split(":", 1)[0]
    return any(key == k or (k.endswith(".") and key.startswith(k)) for k in (*RESUMABLE_CHANGES, *resumable))


def check_run_dir(run_dir: Path, cfg, resume: str, resumable=(), name: str | None = None) -> bool:
    """Check the run directory against ``resume``; return whether to resume from it.  Writes nothing.

    ``resumable``: the model's own keys that may change between sessions (its registration's);
    ``name``: the model to train, which must be the one the run holds."""
    if resume not in RESUME_MODES:
        raise RunDirError(f"--resume must be one of {', '.join(RESUME_MODES)}; got {resume!r}")
    points = resume_points(run_dir)
    checkpoint = points[0] if points else None
    if checkpoint is None:
        if resume == "require":
            raise RunDirError(f"--resume require: {run_dir} holds no checkpoint to resume from")
        return False
    if resume == "never":
        raise RunDirError(f"{run_dir} already holds a run ({Path(checkpoint).name}). Choose another --out, "
                          "or drop --resume never to continue it.")
    missing = [f for f in ("config.yaml", "run.yaml") if not (run_dir / f).is_file()]
    if missing:
        raise RunDirError(f"{run_dir} holds checkpoints but no {' or '.join(missing)}, so whether they fit this "
                          f"config cannot be checked; put {missing[0]} back, or choose another --out")
    held = config_lib.load_yaml(run_dir / "run.yaml").get("model")
    if name is not None and held != name:
        raise RunDirError(f"{run_dir} holds a {held} run, not {name}; train {held} to resume it, or choose "
                          f"another --out for {name}")
    stored = config_lib.load_yaml(run_dir / "config.yaml")
    changes = [d for d in config_lib.diff(stored, cfg.to_dict()) if not _allowed_change(d, resumable)]
    precisions = stored.get("train", {}).get("precision", "float32"), cfg.train.precision
    if (precisions[0] == "mixed_float16") != (precisions[1] == "mixed_float16"):
        # Loss scaling wraps the optimizers: their checkpointed state would not restore.
        changes.append(f"train.precision: {precisions[0]!r} -> {precisions[1]!r} (to or from mixed_float16, "
                       "whose loss scaling changes what the optimizers checkpoint)")
    if changes:
        raise RunDirError(f"{run_dir} holds a run with a different config ({'; '.join(changes)}); use another --out "
                          "for a new run, or restore those settings to resume this one")
    return True


def open_run_dir(run_dir: Path, cfg, name: str, source):
    """Mark the run directory as a run, create its folders and write its config and run info (the chief's job).

    Called once every check has passed and a resumed run's checkpoint has been read, so that a run
    that fails before it can train (data missing, a config the model refuses) changes nothing."""
    mark(run_dir, RUN)
    for sub in ("checkpoints", "samples", "logs"):
        (run_dir / sub).mkdir(parents=True, exist_ok=True)
    config_lib.save(cfg, run_dir / "config.yaml")
    write_run_info(run_dir, name, source)


def train(name: str, *, config_file=None, data=None, out=None, overrides=(), smoke=False, resume="auto",
          log=print, callbacks=()) -> RunResult:
    """Train model ``name``; see the module docstring for what the run directory holds.

    Everything is checked before the first byte is written: the config, the run directory (whose
    output it holds, whether it can be resumed), the data against the batch, the model against the
    memory.  ``callbacks``: further Keras callbacks that watch this run (a caller's progress report);
    they run after the run's own, so they see the epoch's complete logs."""
    extra_callbacks = list(callbacks)
    spec, cfg = resolve_config(name, config_file=config_file, data=data, overrides=overrides, smoke=smoke)
    _align_steps_per_execution(cfg, log)
    run_dir = check_folder(out if out is not None else default_run_dir(name, cfg, smoke), RUN)
    # MultiWorkerMirroredStrategy must exist before any other TF op runs.
    strategy = make_strategy(cfg.train.distribute, cfg.train.devices)
    chief = is_chief()
    resuming = check_run_dir(run_dir, cfg, resume, spec.resumable, name)
    if resuming:
        metrics_csv.read_rows(run_dir / "metrics.csv")  # a damaged table is refused now, not mid-run
    # Non-chief workers of a cluster save into a scratch folder of their own, removed at the end.
    write_dir = run_dir if chief else run_dir / f".{task_label()}"

    tf.keras.utils.set_random_seed(cfg.train.seed)
    source = _load_data(spec, cfg, name)
    info = DataInfo.of(source)
    batch_size = int(cfg.train.batch_size)
    if batch_size % strategy.num_replicas_in_sync:
        raise RunDirError(f"train.batch_size={batch_size} must divide evenly over "
                          f"{strategy.num_replicas_in_sync} replicas")
    changed = changed_settings(spec, cfg, smoke)
    with strategy.scope(), precision(cfg.train.precision):
        model = build_checked(spec, cfg, info, changed)
        epoch_variable = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        # Steps done in the epoch after ``epoch`` (0 in the checkpoints written after an epoch).
        step_variable = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch_step")
        checkpoint = tf.train.Checkpoint(model=model, epoch=epoch_variable, epoch_step=step_variable)
        checkpoint.save_counter  # created now: a within-epoch checkpoint written before the first save() holds it
    # A train_step may consume several batches (a WGAN's critic steps): they come as one larger batch.
    step_batch = batch_size * model.batches_per_step
    check_data_sizes(source, step_batch, cfg, changed)
    steps_per_epoch = int(cfg.train.steps_per_epoch or source.steps_per_epoch(step_batch))
    heldout = data_lib.load_heldout(cfg.data, source) if model.encodes_images else None
    if heldout is not None and heldout.num_examples < 2:
        # Its figures interpolate between pairs of held-out images.
        raise DataError(f"{name} draws its figures from pairs of held-out images, and {heldout.name} holds "
                        f"{heldout.num_examples}; use a data set of at least 2 images")
    check_memory(model, name, changed)
    with contextlib.ExitStack() as held:
        if chief:  # one process per run directory: a second is refused until this run ends
            held.enter_context(hold(run_dir, log))
            for leftover in remove_incomplete_checkpoints(run_dir):
                log(f"removed {leftover}, left by a checkpoint write that was cut short")
        manager = tf.train.CheckpointManager(checkpoint, str(write_dir / "checkpoints"), max_to_keep=cfg.checkpoint.keep)
        initial_epoch, resume_step, resume, restored = 0, 0, None, None
        if resuming:
            restored = _restore(checkpoint, model, epoch_variable, run_dir, log)
            initial_epoch, resume_step = int(epoch_variable.numpy()), int(step_variable.numpy())
            within = f", {resume_step} steps into epoch {initial_epoch + 1}" if resume_step else ""
            log(f"resuming {run_dir} from epoch {initial_epoch}{within} (step {int(model.step.numpy())})")
            if resume_step:  # the epoch's metric sums so far, which fit resets when the epoch begins
                resume = (initial_epoch, resume_step, [(v, v.numpy()) for m in model.metrics for v in m.variables])
        if chief:
            open_run_dir(run_dir, cfg, name, source)
        epochs = model.planned_epochs(cfg.train.epochs)
        log(f"{name}: {source.name}, {source.num_examples} images {info.image_shape}, "
            f"{strategy.num_replicas_in_sync} replica(s) on {describe_devices(strategy)}, batch {batch_size}, {steps_per_epoch} steps/epoch "
            f"-> {run_dir}")
        if initial_epoch >= epochs:
            # No step will run, so the optimizers' slots are never created: their checkpointed values
            # stay unmatched on purpose (else TensorFlow warns about each one when the run is released).
            if restored is not None:
                restored.expect_partial()
            log(f"{run_dir} has already trained {initial_epoch} of {epochs} epochs; raise {model.epochs_setting} to go on")
            return RunResult(run_dir, cfg, model, initial_epoch, epochs)

        if model.prepare(source, batch_size=batch_size, seed=cfg.train.seed, verbose=_verbosity(cfg.train.verbose),
                         log=log):
            manager.save(checkpoint_number=initial_epoch)
        dataset = source.training_dataset(step_batch, seed=cfg.train.seed,
                                          start_step=initial_epoch * steps_per_epoch + resume_step)
        dataset = group_for_replicas(dataset, model.batches_per_step, strategy.num_replicas_in_sync)
        started = time.perf_counter()
        with _naming_unreadable_files(source), _interrupted(run_dir) as ctrl_c:
            saving = Checkpoints(checkpoint, manager, write_dir, epoch_variable=epoch_variable,
                                 step_variable=step_variable, resume=resume, **_within_epoch_rules(cfg, log))
            callbacks = [ctrl_c] + _callbacks(cfg, model, source, heldout, run_dir, saving, initial_epoch, chief)
            callbacks += extra_callbacks
            try:
                history = model.fit(dataset, epochs=epochs, initial_epoch=initial_epoch,
                                    steps_per_epoch=steps_per_epoch, callbacks=callbacks,
                                    verbose=_verbosity(cfg.train.verbose))
            finally:
                if not chief:
                    shutil.rmtree(write_dir, ignore_errors=True)
        last = {k: v[-1] for k, v in history.history.items() if v}
        if not all_finite(last):
            kept = latest_checkpoint(run_dir)
            raise TrainingDiverged(
                f"training diverged in epoch {initial_epoch + len(history.epoch)} "
                f"({', '.join(f'{k}={v:.4g}' for k, v in last.items())}); "
                + (f"the last finite epoch's checkpoint is {kept}. " if kept else "no epoch finished with finite "
                   "losses, so no checkpoint was kept. ")
                + "Lower the optimizer's learning_rate, or check the data's value_range"
                + (f" (settings changed from the model's defaults: {changed})." if changed else "."))
        log(f"trained epochs {initial_epoch + 1}-{epochs} in {time.perf_counter() - started:.1f}s; "
            f"checkpoint: {manager.latest_checkpoint}")
        return RunResult(run_dir, cfg, model, initial_epoch, epochs, history.history)


def _load_data(spec, cfg, name: str):
    """The configured data source; a data set that is not on this machine says how to train without it."""
    try:
        return data_lib.load(cfg.data)
    except DataMissing as exc:
        offline = spec.config(smoke=True).data.source  # what the smoke settings train on: needs no download
        raise DataMissing(
            f"{exc}\n  To try {name} now, without any download:\n"
            f"    python -m keras_gens.train {name} --smoke          "
            f"(embedded {offline}, small widths, a few minutes)\n"
            f"    python -m keras_gens.train {name} --data {offline}    (the paper's sizes on the embedded {offline})"
        ) from None


def changed_settings(spec, cfg, smoke: bool) -> str:
    """The settings of ``cfg`` that differ from the model's defaults (``key=value, ...``), for messages
    about a config the model or the machine cannot take."""
    defaults = spec.config(smoke=smoke).to_dict()
    changes = [line.split(":", 1)[0] + "=" + line.rsplit(" -> ", 1)[1]
               for line in config_lib.diff(defaults, cfg.to_dict()) if not line.startswith("data.source:")]
    return ", ".join(changes)


def build_checked(spec, cfg, info, changed: str = ""):
    """``spec.build``, with a model the machine cannot hold, or the config cannot make, as one message."""
    where = f" (settings changed from the model's defaults: {changed})" if changed else ""
    try:
        return spec.build(cfg, info)
    except (MemoryError, tf.errors.ResourceExhaustedError):
        raise ConfigError(f"{spec.name} does not fit in this machine's memory{where}") from None
    except (ValueError, TypeError, IndexError, tf.errors.InvalidArgumentError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"{spec.name} cannot be built with this config: {_reason(exc)}{where}") from exc


def _reason(exc) -> str:
    """An exception's message on one line, without TensorFlow's op and function-node decorations."""
    text = re.sub(r"\{\{[^}]*\}\}|\[Op:[^\]]*\]", "", str(exc))
    return " ".join(text.split())[:300]


# Bytes per parameter while training: the float32 weight, its gradient and an optimizer's two moments.
TRAINING_BYTES_PER_PARAMETER = 16


# The memory a run may count on, in GiB, when less than the machine has free: a shared machine, or a test
# that must not depend on what else runs (the property tests set 4).
MEMORY_ENV = "KERAS_GENS_MEMORY_GIB"


def free_memory() -> int:
    """Bytes of memory free for a run: the machine's available memory, or ``$KERAS_GENS_MEMORY_GIB`` if lower."""
    import os

    import psutil

    free = psutil.virtual_memory().available
    limit = os.environ.get(MEMORY_ENV)
    if limit:
        try:
            free = min(free, int(float(limit) * 2**30))
        except ValueError:
            raise ConfigError(f"{MEMORY_ENV}={limit!r} must be a number of GiB") from None
    return free


def check_memory(model, name: str, changed: str = "", available: int | None = None):
    """Refuse a model whose weights, gradients and optimizer state would take more than half the free memory:
    the other half is for its activations and the update's temporaries (a WAE at three times its smoke widths,
    18.9 GiB by this count, was killed by the kernel on a machine with 23 GiB free)."""
    import numpy as np

    parameters = int(sum(np.prod(v.shape) for v in model.weights))
    needed = parameters * TRAINING_BYTES_PER_PARAMETER
    available = free_memory() if available is None else available
    if needed > available / 2:
        where = f"; settings changed from the model's defaults: {changed}" if changed else ""
        raise ConfigError(f"{name} has {parameters:,} parameters: training needs about {needed / 2**30:.1f} GiB for "
                          f"their weights, gradients and optimizer state, more than half of the "
                          f"{available / 2**30:.1f} GiB of memory free (the rest is for activations){where}")


def check_data_sizes(source, step_batch: int, cfg, changed: str = "", available: int | None = None):
    """Refuse a data set too small for one training step (a WGAN's step takes its critic batches too), and
    batches of images too large for the memory (a step's batch, as stored before it reaches the model)."""
    where = f" (settings changed from the model's defaults: {changed})" if changed else ""
    if step_batch > source.num_examples:
        per_step = "" if step_batch == int(cfg.train.batch_size) else \
            f" ({step_batch // int(cfg.train.batch_size)} batches of {cfg.train.batch_size} per training step)"
        raise DataError(f"{source.name} has {source.num_examples} examples, fewer than one training step "
                        f"takes: {step_batch}{per_step}; lower train.batch_size or use more data{where}")
    sides = [source.image_shape[:2]] + ([source.stream.resize] if source.stream.resize else [])
    needed = max(step_batch * h * w * source.image_shape[-1] * 4 for h, w in sides)
    available = free_memory() if available is None else available
    if needed > available:
        raise DataError(f"one training step's batch of {step_batch} images of {' or '.join(f'{h}x{w}' for h, w in sides)} "
                        f"takes {needed / 2**30:.1f} GiB as float32, more than the {available / 2**30:.1f} GiB of "
                        f"memory free; lower train.batch_size, data.image_size or data.augment.resize{where}")


def _restore(checkpoint, model, epoch_variable, run_dir, log):
    """Read the newest readable checkpoint into the model: one that does not fit it is one message."""
    def written_with(path):  # checkpoints written before within-epoch saving have no epoch_step (0)
        names = {key for key, _ in tf.train.list_variables(path)}
        if "epoch_step/.ATTRIBUTES/VARIABLE_VALUE" in names:
            return checkpoint
        return tf.train.Checkpoint(model=model, epoch=epoch_variable)

    try:
        path, restored = restore_readable(written_with, run_dir, log, within_epoch=True)
        restored.assert_existing_objects_matched()
    except (ValueError, AssertionError) as exc:
        reason = " ".join(str(exc).split())[:300]
        raise RunDirError(f"the checkpoints in {run_dir} do not fit the model this config builds ({reason}); "
                          "choose another --out") from None
    return restored


class _CtrlC(tf.keras.callbacks.Callback):
    """Ctrl-C that training cannot lose.  Python raises KeyboardInterrupt wherever the main thread happens
    to be; when that is a ``__del__`` or a weakref callback (TensorFlow runs several per training step),
    Python only prints "Exception ignored in ..." and training goes on, for hours.  So the handler also
    records the key press, and this callback raises it again after the step or epoch under way."""

    def __init__(self):
        super().__init__()
        self._supports_tf_logs = True  # it reads no logs: Keras need not copy them to numpy every step
        self.pressed = False
        self._previous = None

    def install(self) -> bool:
        """Handle SIGINT from here on (main thread only; a handler someone else set is chained, an ignored
        SIGINT stays ignored)."""
        if threading.current_thread() is not threading.main_thread():
            return False
        previous = signal.getsignal(signal.SIGINT)
        if previous in (signal.SIG_IGN, None):
            return False
        self._previous = previous
        signal.signal(signal.SIGINT, self._handle)
        return True

    def uninstall(self):
        signal.signal(signal.SIGINT, self._previous)

    def _handle(self, signum, frame):
        self.pressed = True
        (self._previous if callable(self._previous) else signal.default_int_handler)(signum, frame)

    def _raise_if_pressed(self, *args, **kwargs):
        if self.pressed:
            raise KeyboardInterrupt

    on_train_batch_end = on_test_batch_end = on_predict_batch_end = on_epoch_end = _raise_if_pressed


@contextlib.contextmanager
def _interrupted(run_dir):
    """Ctrl-C: say which checkpoint a re-run resumes from, or that there is none yet.  Yields the callback
    that makes sure a Ctrl-C stops training (see _CtrlC)."""
    ctrl_c = _CtrlC()
    installed = ctrl_c.install()
    try:
        yield ctrl_c
    except KeyboardInterrupt:
        points = resume_points(run_dir)
        if points:
            raise Interrupted(f"interrupted: the last checkpoint, {points[0]}, is intact; re-run the same command "
                              "to resume from it.") from None
        raise Interrupted("interrupted before the first checkpoint was written: a re-run of the same command "
                          "starts this run from the beginning.") from None
    finally:
        if installed:
            ctrl_c.uninstall()


def group_for_replicas(dataset, batches: int, replicas: int):
    """Reorder each step's ``batches`` stacked batches so that replicas split every batch, not the stack.

    A strategy hands replica r the r-th contiguous slice of a global batch.  With
    k batches stacked [b0 | b1 | … | bk−1], replica 0 would get b0, b1 and part of b2;
    regrouped as [r0: b0/R, b1/R, …; r1: …], each replica's i-th chunk is its share
    of batch i, so chunk i over all replicas is exactly batch i, as on one device.
    """
    if batches <= 1 or replicas <= 1:
        return dataset

    def regroup(tensor):
        shape = tf.shape(tensor)
        per = shape[0] // (batches * replicas)
        grouped = tf.reshape(tensor, tf.concat([[batches, replicas, per], shape[1:]], 0))
        perm = tf.concat([[1, 0, 2], tf.range(3, tf.rank(grouped))], 0)
        return tf.reshape(tf.transpose(grouped, perm), shape)

    return dataset.map(lambda batch: tf.nest.map_structure(regroup, batch), num_parallel_calls=tf.data.AUTOTUNE,
                       deterministic=True)


def _align_steps_per_execution(cfg, log):
    """Callbacks see a run only between calls of train.steps_per_execution steps: with checkpoint.every_steps
    set, a call must end on each of its steps, so the steps per call become their greatest common divisor."""
    per_call, every = cfg.train.get("steps_per_execution", 1), cfg.checkpoint.get("every_steps", 0)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (per_call, every)):
        return  # the config checks name the bad value
    if per_call > 1 and every > 0 and every % per_call:
        cfg.train.steps_per_execution = math.gcd(per_call, every)
        log(f"note: train.steps_per_execution {per_call} -> {cfg.train.steps_per_execution}, so that a call ends on "
            f"each step that checkpoint.every_steps={every} saves at")


def _within_epoch_rules(cfg, log) -> dict:
    """``checkpoint.every_steps`` and ``every_minutes`` as the checkpoint callback takes them."""
    every_minutes = float(cfg.checkpoint.every_minutes)  # >= 0: the config's checks
    if every_minutes and num_cluster_tasks() > 1:
        # Saving reads the replicas' metric sums (a collective): every worker must save at the same step,
        # and each worker's clock would pick a different one.
        log("note: checkpoint.every_minutes is not used by multi-worker runs (the workers must save at the same "
            "step); set checkpoint.every_steps for checkpoints within an epoch")
        every_minutes = 0.0
    return {"every_steps": int(cfg.checkpoint.every_steps), "every_minutes": every_minutes}


def _callbacks(cfg, model, source, heldout, run_dir, saving, initial_epoch, chief) -> list:
    """What watches training: NaN stop, TensorBoard, sample grids, figures, the metrics table, checkpoints."""
    callbacks = [tf.keras.callbacks.TerminateOnNaN()]
    if cfg.eval.metric != "none":  # first: its scores join the logs that TensorBoard and metrics.csv record
        callbacks.append(_scores_callback(cfg, run_dir, initial_epoch, chief))
    real = source.take(min(cfg.samples.count, 32), seed=cfg.train.seed + 1)["image"]
    # The model's own (a β schedule) come before TensorBoard and the table, which record what they log.
    callbacks.extend(model.training_callbacks(run_dir, write=chief, examples=real))
    if chief:
        callbacks.append(tf.keras.callbacks.TensorBoard(str(run_dir / "logs"), update_freq="epoch",
                                                        profile_batch=0, write_graph=False))
    # Every worker draws the samples: under MultiWorkerMirroredStrategy reading the
    # BatchNorm statistics is a collective, so all workers must take part; only the chief writes.
    if model.draws_samples:
        callbacks.append(SampleGrid(run_dir / "samples", count=cfg.samples.count, every=cfg.samples.every,
                                    real_images=real, log_dir=run_dir / "logs", write=chief))
    if heldout is not None:
        images = heldout.take(32, seed=cfg.train.seed + 2)["image"]
        callbacks.append(AutoencoderFigures(run_dir / "figures", images, seed=cfg.train.seed, write=chief))
    if chief:
        callbacks.append(MetricsTable(run_dir / "metrics.csv", initial_epoch))
    # Last: the checkpoint is written after everything else has seen the epoch.
    callbacks.append(saving)
    return callbacks


def _scores_callback(cfg, run_dir, initial_epoch, chief) -> GenerativeScores:
    from keras_gens.evaluation import training_data_images
    from keras_gens.metrics.inception import FeatureExtractor

    e = cfg.eval
    real = None
    if e.metric in ("fid", "kid"):
        reference_seed = cfg.train.seed if e.get("reference_seed") is None else e.reference_seed
        real = training_data_images(cfg.data, e.reference_samples, seed=reference_seed, batch_size=e.batch_size)
    return GenerativeScores(
        e.metric, every=e.every, samples=e.samples, real=real, also=tuple(e.also),
        make_extractor=lambda: FeatureExtractor(e.backbone, weights=e.weights, batch_size=e.batch_size,
                                                precision=e.precision),
        figures_dir=run_dir / "figures", metrics_path=run_dir / "metrics.csv", initial_epoch=initial_epoch,
        seed=cfg.train.seed, batch_size=e.batch_size, write=chief)


def _verbosity(verbose: int) -> int:
    """The progress bar redraws with carriage returns: in a log file or CI, one line per epoch reads better."""
    return 2 if verbose == 1 and not sys.stdout.isatty() else verbose


@contextlib.contextmanager
def _naming_unreadable_files(source):
    """A decode error deep in tf.data names no file: find the file(s) and say which."""
    try:
        yield
    except tf.errors.InvalidArgumentError as exc:
        if isinstance(source, FileSource):
            bad = find_unreadable(list(source.paths), "full", desc="finding the unreadable image")
            if bad:
                raise DataError(
                    f"training stopped: {len(bad)} image(s) in {source.name} cannot be decoded:\n{describe(bad)}\n"
                    "Replace or delete them, or set data.on_error=skip with data.validate=full.") from exc
        raise
