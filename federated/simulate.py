"""``python -m federated.simulate --config configs/fed_digits.yaml [key=value ...]``: one federated experiment.

    data → 70/30 split → partition over clients → (per-client GAN augmentation) → rounds of
    FedAvg or Bi-FedAvg in TFF, the global model evaluated on the held-out split

An experiment folder (``--out``, default ``runs/fed-<data>-<partition>-<algorithm>-<augment>``) holds:
    config.yaml                   the resolved config
    partition.{csv,md,png}        each client's class histogram (table and heat-map)
    clients/client_K/<gan>/       each client's GAN run (augmentation only), generated.npz
    metrics.csv                   per round: train accuracy/loss (clients' local training), test accuracy/loss
    logs/                         TensorBoard scalars
    figures/{accuracy,loss}.png   the paper's Figures 3–5 style curves
    checkpoint.npz                server state, client states (Bi-FedAvg) and the round, written atomically
    checkpoint.previous.npz       the checkpoint before it: resumed from when the newest cannot be read
    summary.yaml                  final and best test accuracy, seconds per round

Re-running the same command resumes from ``checkpoint.npz`` (``federated.rounds`` may be raised); if
that file is damaged, the run says so, names it, and resumes from ``checkpoint.previous.npz``.
"""
from __future__ import annotations

import argparse
import io
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from federated import config as fed_config
from keras_gens.outputs import Kind, check_folder, mark, register_kind

EPILOG = """examples:
  python -m federated.simulate --config configs/fed_digits.yaml
  python -m federated.simulate --config configs/fed_digits.yaml federated.algorithm=bi_fedavg partition.name=non_iid
  python -m federated.simulate --config configs/fed_mnist.yaml augment.method=bagan_gp federated.rounds=50
"""
RESUMABLE_CHANGES = ("federated.rounds", "run.")
METRIC_COLUMNS = ["round", "train_accuracy", "train_loss", "test_accuracy", "test_loss", "seconds", "clients"]


@dataclass
class SimulationResult:
    out_dir: Path
    config: dict
    history: list = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    algorithm: object = None


def default_out_dir(cfg) -> Path:
    from keras_gens import data as data_lib

    kind, _ = data_lib.parse_spec(cfg.data.source)
    return Path("runs") / f"fed-{kind}-{cfg.partition.name}-{cfg.federated.algorithm}-{cfg.augment.method}"


def client_dataset(x, y, *, batch_size: int, local_epochs: int, seed: int):
    """A client's local data for one round: shuffled by (seed, round, client), ``local_epochs`` passes."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(y), seed=seed, reshuffle_each_iteration=True)
    return ds.repeat(local_epochs).batch(batch_size)


def sample_clients(num_clients: int, per_round: int, round_index: int, seed: int) -> np.ndarray:
    """The clients of round ``round_index``: a function of (seed, round) only, so resuming changes nothing."""
    rng = np.random.default_rng([seed, round_index])
    return np.sort(rng.choice(num_clients, min(per_round, num_clients), replace=False))


def looks_federated(folder: Path) -> bool:
    """An experiment an earlier version wrote (no marker): its config has the federated sections."""
    from keras_gens import config as config_lib
    from keras_gens.errors import ConfigError

    try:
        stored = config_lib.load_yaml(folder / "config.yaml") if (folder / "config.yaml").is_file() else {}
    except ConfigError:
        return False
    return "federated" in stored and "partition" in stored


FEDERATED = register_kind(Kind("federated", "a federated experiment", "python -m federated.simulate",
                               own=("config.yaml", "partition.*", "metrics.csv", "logs", "figures", "checkpoint*.npz",
                                    "summary.yaml"), recognizes=looks_federated))


def _check_resume(out_dir: Path, cfg) -> bool:
    """Whether ``out_dir`` holds this experiment to resume (a different config is refused).  Writes nothing."""
    from keras_gens import config as config_lib
    from keras_gens.errors import RunDirError
    from keras_gens.utils.metrics_csv import read_rows

    stored_file = out_dir / "config.yaml"
    if not any(path.is_file() for path in checkpoint_files(out_dir)):
        return False
    if not stored_file.is_file():
        raise RunDirError(f"{out_dir} holds a checkpoint but no config.yaml, so whether it fits this config cannot "
                          "be checked; put config.yaml back, or choose another --out")
    read_rows(out_dir / "metrics.csv", key="round")  # a damaged table is refused now, not mid-run
    stored = config_lib.load_yaml(stored_file)
    changes = [d for d in config_lib.diff(stored, cfg.to_dict())
               if not any(d.split(":", 1)[0].startswith(k) for k in RESUMABLE_CHANGES)]
    if changes:
        raise RunDirError(f"{out_dir} holds an experiment with a different config ({'; '.join(changes)}); use "
                          "another --out, or restore those settings to resume it")
    return True


CHECKPOINT, PREVIOUS_CHECKPOINT = "checkpoint.npz", "checkpoint.previous.npz"


def checkpoint_files(out_dir: Path) -> tuple[Path, Path]:
    """The newest checkpoint and the one before it."""
    return out_dir / CHECKPOINT, out_dir / PREVIOUS_CHECKPOINT


def save_checkpoint(out_dir: Path, algorithm, round_done: int):
    """Write the state after ``round_done`` rounds; the checkpoint it replaces becomes the previous one.

    Each file is whole at every moment (written to a temporary file, then renamed): a kill between
    the two renames leaves the previous checkpoint alone, which ``load_checkpoint`` then resumes from."""
    import os

    from keras_gens.utils.io import atomic_write_bytes

    newest, previous = checkpoint_files(out_dir)
    buf = io.BytesIO()
    np.savez(buf, round=np.int64(round_done), **algorithm.state_arrays())
    if newest.is_file():
        os.replace(newest, previous)
    atomic_write_bytes(newest, buf.getvalue())


def _read_checkpoint(path: Path) -> dict:
    import zipfile

    from keras_gens.errors import RunDirError

    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
        int(arrays["round"])
    except (OSError, EOFError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise RunDirError(f"{path} cannot be read ({type(exc).__name__}: {exc})") from None
    return arrays


def load_checkpoint(out_dir: Path, algorithm, log=print) -> int:
    """Restore the newest readable checkpoint into ``algorithm``; return its round.

    A damaged newest checkpoint is named and passed over for the previous one; with neither readable
    the run stops (it never starts over silently)."""
    from keras_gens.errors import RunDirError

    failures = []
    for path in checkpoint_files(out_dir):
        if not path.is_file():
            continue
        try:
            arrays = _read_checkpoint(path)
        except RunDirError as exc:
            failures.append(str(exc))
            log(f"warning: {exc}; trying the checkpoint before it")
            continue
        # A readable checkpoint of another algorithm or model is a config mismatch: raised, not skipped.
        algorithm.load_state_arrays({k: v for k, v in arrays.items() if k != "round"})
        if failures:
            log(f"resuming from {path} (round {int(arrays['round'])})")
        return int(arrays["round"])
    raise RunDirError(f"{out_dir} holds no readable checkpoint:\n  " + "\n  ".join(failures)
                      + f"\nDelete {out_dir} to start the experiment over.")


def plot_curves(figures: Path, rows: list[dict], title: str = ""):
    from keras_gens.utils.plots import save_line_plot

    rounds = [int(r["round"]) for r in rows]
    tested = [r for r in rows if r.get("test_accuracy") not in (None, "")]
    for metric, label in (("accuracy", "accuracy"), ("loss", "categorical cross-entropy")):
        series = {"train": (rounds, [float(r[f"train_{metric}"]) for r in rows])}
        if tested:
            series["test"] = ([int(r["round"]) for r in tested], [float(r[f"test_{metric}"]) for r in tested])
        save_line_plot(figures / f"{metric}.png", series, xlabel="communication round", ylabel=label, title=title)


def client_partition(cfg, data):
    """The configured partition of the training split (nothing written: an impossible one fails first)."""
    from federated.partition import make_partition

    p = cfg.partition
    return make_partition(p.name, data.y_train, p.num_clients, seed=cfg.run.seed, num_classes=data.num_classes,
                          **{k: v for k, v in p.items() if k not in ("name", "num_clients")})


def prepare_clients(cfg, data, partition, out_dir: Path, log=print):
    """Each client's training arrays, augmented if asked; the partition's tables go to ``out_dir``."""
    from federated.augment import augment_clients

    partition.write(out_dir, class_names=data.class_names)
    clients = [(data.x_train[idx], data.y_train[idx]) for idx in partition.client_indices]
    if cfg.augment.method != "none":
        generated = augment_clients(cfg.augment.method, data.x_train, data.y_train, partition.client_indices,
                                    data.num_classes, out_dir / "clients", image_side=cfg.augment.image_size,
                                    smoke=cfg.augment.smoke, overrides=list(cfg.augment.overrides[cfg.augment.method]),
                                    seed=cfg.run.seed, verbose=cfg.run.verbose, log=log)
        clients = [(np.concatenate([x, generated[k][0]]), np.concatenate([y, generated[k][1]]))
                   for k, (x, y) in enumerate(clients)]
    return clients


def simulate(config_file=None, overrides=(), out=None, log=print, cfg=None) -> SimulationResult:
    """Run (or resume) one experiment; see the module docstring for what it writes."""
    import tensorflow as tf
    import yaml

    from federated import data as fed_data
    from keras_gens import config as config_lib
    from keras_gens.run_dirs import hold
    from keras_gens.utils import faults
    from keras_gens.utils.io import atomic_write_text
    from keras_gens.utils.metrics_csv import read_rows
    from keras_gens.utils.tables import write_csv
    from keras_gens.utils.progress import progress

    cfg = cfg or fed_config.resolve(config_file, overrides)
    out_dir = check_folder(out if out is not None else default_out_dir(cfg), FEDERATED)
    resuming = _check_resume(out_dir, cfg)
    seed, f = int(cfg.run.seed), cfg.federated
    tf.keras.utils.set_random_seed(seed)

    data = fed_data.load(cfg.data, seed=seed)
    log(f"{data.name}: {len(data.y_train)} training / {len(data.y_test)} test images {data.image_shape}, "
        f"{data.num_classes} classes; {cfg.partition.name} over {cfg.partition.num_clients} clients, "
        f"{f.algorithm}, augmentation {cfg.augment.method} -> {out_dir}")
    partition = client_partition(cfg, data)
    # Only now the folder: missing data or an impossible partition leave nothing behind; and one
    # process at a time (a second simulate or grid into it is refused while this one runs).
    with hold(out_dir, log):
        mark(out_dir, FEDERATED)
        config_lib.save(cfg, out_dir / "config.yaml")
        clients = prepare_clients(cfg, data, partition, out_dir, log=log)
        # TFF only now: starting it (and its worker process) costs seconds a refused command need not spend.
        from federated.algorithms import FederatedAlgorithm, keras_model_fn
        from federated.classifier import build_mlp, compile_for_evaluation

        hidden = tuple(f.hidden_units)
        element_spec = (tf.TensorSpec([None, *data.image_shape], tf.float32), tf.TensorSpec([None], tf.int32))
        model_fn = keras_model_fn(lambda: build_mlp(data.image_shape, data.num_classes, hidden, seed), element_spec)
        algorithm = FederatedAlgorithm(f.algorithm, model_fn, client_learning_rate=f.client_learning_rate,
                                       server_learning_rate=f.server_learning_rate, mixing=f.mixing,
                                       first_start=f.first_start)
        evaluator = compile_for_evaluation(build_mlp(data.image_shape, data.num_classes, hidden, seed))
        algorithm.set_global_weights(evaluator.get_weights())

        metrics_file = out_dir / "metrics.csv"
        start, rows = 0, []
        if resuming:
            start = load_checkpoint(out_dir, algorithm, log)
            rows = [r for r in read_rows(metrics_file, key="round") if int(r["round"]) <= start]
            log(f"resuming {out_dir} after round {start}")
        rounds = int(f.rounds)
        patience, min_delta = int(cfg.run.early_stopping.patience), float(cfg.run.early_stopping.min_delta)
        stopped = stopping_round(rows, patience, min_delta)
        if stopped is not None:  # a finished experiment that stopped early: nothing left to train
            log(f"{out_dir} stopped early at round {stopped} (run.early_stopping.patience {patience})")
            rounds = start
        writer = tf.summary.create_file_writer(str(out_dir / "logs"))
        verbose, interactive = int(cfg.run.verbose), sys.stdout.isatty()
        round_seconds = []
        bar = progress(range(start, rounds), total=rounds - start, desc=f"{f.algorithm} rounds", unit="round") \
            if verbose == 1 else range(start, rounds)
        for r in bar:
            chosen = sample_clients(len(clients), f.clients_per_round, r, seed)
            datasets = [client_dataset(*clients[k], batch_size=f.batch_size, local_epochs=f.local_epochs,
                                       seed=seed * 1_000_003 + r * 1009 + int(k)) for k in chosen]
            began = time.perf_counter()
            faults.point("federated_round")
            train = algorithm.round(chosen, datasets)
            round_seconds.append(time.perf_counter() - began)
            row = {"round": r + 1, "train_accuracy": float(train["sparse_categorical_accuracy"]),
                   "train_loss": float(train["loss"]), "clients": " ".join(str(int(k)) for k in chosen),
                   "seconds": round(round_seconds[-1], 4)}
            last = r + 1 == rounds
            if last or (r + 1) % max(int(cfg.run.eval_every), 1) == 0:
                algorithm.global_weights().assign_weights_to(evaluator)
                loss, accuracy = evaluator.evaluate(data.x_test, data.y_test, batch_size=512, verbose=0)
                row.update(test_accuracy=float(accuracy), test_loss=float(loss))
            rows.append(row)
            with writer.as_default(step=r + 1):
                for key in ("train_accuracy", "train_loss", "test_accuracy", "test_loss"):
                    if key in row:
                        tf.summary.scalar(key, row[key])
            write_csv(metrics_file, rows, METRIC_COLUMNS)
            stopped = stopping_round(rows, patience, min_delta)
            if last or stopped is not None or (r + 1) % max(int(cfg.run.checkpoint_every), 1) == 0:
                save_checkpoint(out_dir, algorithm, r + 1)
            if verbose == 2 or (verbose == 1 and not interactive and (last or (r + 1) % 10 == 0)):
                tested = f", test accuracy {row['test_accuracy']:.4f} loss {row['test_loss']:.4f}" \
                    if "test_accuracy" in row else ""
                log(f"round {r + 1}/{rounds}: train accuracy {row['train_accuracy']:.4f} loss "
                    f"{row['train_loss']:.4f}{tested} ({round_seconds[-1]:.2f}s)")
            elif verbose == 1 and hasattr(bar, "set_postfix"):
                bar.set_postfix(acc=f"{row.get('test_accuracy', row['train_accuracy']):.3f}")
            if stopped is not None:
                log(f"early stop after round {stopped}: the test loss has not fallen for {patience} evaluations")
                break
        writer.flush()
        if rows:
            plot_curves(out_dir / "figures", rows, title=f"{data.name}: {f.algorithm}, {cfg.partition.name}, "
                                                         f"augmentation {cfg.augment.method}")
        summary = summarize(rows, round_seconds)
        if stopped is not None:
            summary["stopped_early_at"] = stopped
        atomic_write_text(out_dir / "summary.yaml", yaml.safe_dump(summary, sort_keys=False))
        if rows:
            log(f"after {summary['rounds']} rounds: test accuracy {summary['test_accuracy']:.4f}, "
                f"loss {summary['test_loss']:.4f} "
                f"(best {summary['best_test_accuracy']:.4f} at round {summary['best_round']}); {out_dir}")
        return SimulationResult(out_dir, cfg, rows, summary, algorithm)


def stopping_round(rows: list[dict], patience: int, min_delta: float = 0.0) -> int | None:
    """The round at which early stopping ends the experiment: the evaluation that makes ``patience``
    evaluations in a row without a test loss below the best by more than ``min_delta``; None if none
    (or ``patience`` 0).  A function of metrics.csv alone, so a resumed run decides as the whole would."""
    if patience <= 0:
        return None
    best, since = float("inf"), 0
    for row in rows:
        if row.get("test_loss") in (None, ""):
            continue
        loss = float(row["test_loss"])
        if loss < best - min_delta:
            best, since = loss, 0
        else:
            since += 1
            if since >= patience:
                return int(row["round"])
    return None


def summarize(rows: list[dict], round_seconds: list[float]) -> dict:
    """Final and best test accuracy, and the median seconds of a round: of this session's rounds, or,
    when a finished experiment is re-run and trains none, of the rounds that metrics.csv recorded."""
    tested = [r for r in rows if r.get("test_accuracy") not in (None, "")]
    if not tested:
        return {"rounds": len(rows)}
    best = max(tested, key=lambda r: float(r["test_accuracy"]))
    recorded = [float(r["seconds"]) for r in rows if r.get("seconds") not in (None, "")]
    seconds = round_seconds or recorded
    return {"rounds": int(rows[-1]["round"]), "test_accuracy": float(tested[-1]["test_accuracy"]),
            "test_loss": float(tested[-1]["test_loss"]), "best_test_accuracy": float(best["test_accuracy"]),
            "best_round": int(best["round"]),
            "seconds_per_round": float(np.median(seconds)) if seconds else None}


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m federated.simulate", epilog=EPILOG,
                                     description="Run one federated experiment (FedAvg or Bi-FedAvg in TFF).",
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=None, help="experiment YAML (default: configs/fed_digits.yaml)")
    parser.add_argument("--out", default=None, help="experiment folder (default: runs/fed-...)")
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    parser.add_argument("overrides", nargs="*", help="key=value settings, e.g. federated.rounds=10")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    from keras_gens.cli import run_cli

    args = parse_args(sys.argv[1:] if argv is None else argv)

    def work():
        config_file = args.config or fed_config.defaults_path().with_name("fed_digits.yaml")
        cfg = fed_config.resolve(config_file, args.overrides)
        if args.print_config:
            print(cfg.to_yaml(), end="")
            return 0
        simulate(out=args.out, cfg=cfg)
        return 0

    return run_cli(work, {"--config": args.config, "--out": args.out})


if __name__ == "__main__":
    sys.exit(main())
