"""What checkpoints within an epoch cost a smoke run: `make bench-checkpoint`.

    .venv/bin/python tools/bench_checkpoint.py [--models dcgan vae] [--epochs 8] [--rounds 5]

Trains each model's smoke run (``--smoke``, ``--epochs`` epochs) three ways, in alternating rounds
so that the machine's drift falls on all three alike, each into a fresh folder:
  after each epoch only    checkpoint.every_minutes=0 (what runs saved before within-epoch checkpoints)
  default                  the config's checkpoint settings (every_minutes 10: a smoke epoch never reaches it)
  every N steps            checkpoint.every_steps=N, a quarter of an epoch: four saves per epoch
and prints the median training time of each (epochs 2 to --epochs, as metrics.csv times them: the
first epoch's tracing left out) with its overhead over the first, the CPU and its flags; writes
bench_out/checkpoint_bench.csv.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def train_seconds(model: str, epochs: int, overrides: list[str]) -> float:
    """The seconds of epochs 2 to ``epochs`` (metrics.csv's column): the first epoch's tracing left out."""
    from keras_gens import runner
    from keras_gens.utils import metrics_csv

    with tempfile.TemporaryDirectory() as folder:
        runner.train(model, smoke=True, out=Path(folder) / "run", log=lambda *_: None,
                     overrides=[f"train.epochs={epochs}", "train.verbose=0", *overrides])
        rows = metrics_csv.read_rows(Path(folder) / "run" / "metrics.csv")
    return sum(float(row["seconds"]) for row in rows[1:])


def main(argv=None) -> int:
    from keras_gens.results.common import machine
    from keras_gens.runner import resolve_config
    from keras_gens.utils.tables import write_csv

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["dcgan", "vae"])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    if args.epochs < 2 or args.rounds < 1:
        parser.error("--epochs must be at least 2 (the first is left out) and --rounds at least 1")
    print(f"smoke runs of {', '.join(args.models)}, {args.epochs} epochs, {args.rounds} rounds; {machine()}",
          flush=True)
    rows = []
    for model in args.models:
        from keras_gens import data as data_lib

        _, cfg = resolve_config(model, smoke=True)
        steps = data_lib.load(cfg.data).steps_per_epoch(int(cfg.train.batch_size))
        every = max(1, steps // 4)
        settings = {"after each epoch only": ["checkpoint.every_minutes=0"], "default": [],
                    f"every {every} steps": [f"checkpoint.every_steps={every}"]}
        times = {name: [] for name in settings}
        for round_number in range(args.rounds):
            for name, overrides in settings.items():
                times[name].append(train_seconds(model, args.epochs, overrides))
                print(f"{model} round {round_number + 1}, {name}: {times[name][-1]:.1f} s", flush=True)
        base = statistics.median(times["after each epoch only"])
        for name, values in times.items():
            median = statistics.median(values)
            rows.append({"model": model, "setting": name, "steps_per_epoch": steps, "median_s": round(median, 2),
                         "overhead_%": round(100 * (median / base - 1), 1),
                         "runs_s": " ".join(f"{v:.1f}" for v in values)})
            print(f"{model}, {name}: median {median:.1f} s, {rows[-1]['overhead_%']:+.1f}% over after-each-epoch",
                  flush=True)
    out = ROOT / "bench_out" / "checkpoint_bench.csv"
    write_csv(out, rows, list(rows[0]))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
