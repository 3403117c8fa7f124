"""Training runs one after another against side by side, as `keras_gens.results --jobs` trains them:
`make bench-jobs`.

    .venv/bin/python tools/bench_jobs.py [--model pe_gan] [--runs 2] [--epochs 3] [--steps 100] [--threads 0 1]

Trains ``--runs`` identical runs (seeds 0, 1, ...) of a results-sized model three ways, each into a
fresh folder: ``--jobs 1`` (in this process, one after another, as ``--jobs 1`` does), then
``--jobs 2`` with each worker's TensorFlow limited to every ``--threads`` value (0: TensorFlow's
default, all cores, which the results command keeps).  Prints the wall time of each and its share
of the one-after-another time, with the CPU and its flags; writes bench_out/jobs_bench.csv.  The
first epoch of each run includes tracing the training step.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Results-sized runs of each model (what keras_gens.results trains).
SIZES = {"pe_gan": ["model.ch=16", "model.singular_values.every=100"],
         "wgan_gp_cond": ["model.base_filters=16", "model.singular_values.every=100"],
         "dcgan": ["data.source=mnist5k"], "wae": ["data.source=mnist5k"]}


def timed(label, jobs, threads, specs, log):
    from keras_gens.results import common

    with tempfile.TemporaryDirectory() as folder:
        ctx = common.Context(Path(folder) / "runs", Path(folder) / "figs", "quick", 1, log=lambda m: None,
                             jobs=jobs)
        ctx.worker_threads = threads
        started = time.perf_counter()
        ctx.train_all("bench", specs)
        for spec in specs:  # with --jobs 1: trains each here; else finds it finished
            ctx.train("bench", spec)
        seconds = time.perf_counter() - started
    log(f"{label}: {seconds:.1f} s")
    return seconds


def main(argv=None) -> int:
    from keras_gens.results.common import RunSpec, machine
    from keras_gens.utils.tables import write_csv

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="pe_gan", choices=sorted(SIZES))
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--threads", type=int, nargs="+", default=[0, 1],
                        help="TensorFlow threads per worker to try with --jobs 2 (0: TensorFlow's default)")
    args = parser.parse_args(argv)
    if min(args.runs, args.epochs, args.steps) < 1 or min(args.threads) < 0:
        parser.error("--runs, --epochs and --steps must be at least 1, --threads at least 0")
    specs = [RunSpec(f"{args.model}-s{seed}", args.model,
                     (f"train.seed={seed}", f"train.epochs={args.epochs}", f"train.steps_per_epoch={args.steps}",
                      *SIZES[args.model])) for seed in range(args.runs)]
    print(f"{args.runs} x {args.model} ({' '.join(SIZES[args.model])}), {args.epochs} x {args.steps} steps; "
          f"{machine()}", flush=True)
    rows = [{"jobs": 1, "threads": "default", "seconds": timed("--jobs 1", 1, 0, specs, print)}]
    for threads in args.threads:
        name = "default" if threads == 0 else threads
        rows.append({"jobs": 2, "threads": name,
                     "seconds": timed(f"--jobs 2, {name} thread(s) per worker", 2, threads, specs, print)})
    for row in rows:
        row["share_of_one_after_another"] = round(row["seconds"] / rows[0]["seconds"], 3)
        row["seconds"] = round(row["seconds"], 1)
        print(f"jobs {row['jobs']}, threads {row['threads']}: {row['seconds']} s "
              f"({100 * row['share_of_one_after_another']:.0f}% of one after another)")
    out = ROOT / "bench_out" / "jobs_bench.csv"
    out.parent.mkdir(exist_ok=True)
    write_csv(out, rows, list(rows[0]))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
