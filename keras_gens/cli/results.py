"""``python -m keras_gens.results``: does each model learn what its paper claims?

    python -m keras_gens.results [wae ocgan fedgan reid pegan] [--budget quick|standard] [--seeds N]
                                 [--jobs N] [--out DIR] [--report FILE]

Trains what each experiment needs (ordinary run directories under ``--out``, default
``runs/results``; re-running resumes them and re-uses what was already measured), measures each
paper's claims, and rewrites the experiment's section of ``--report`` (default ``RESULTS.md``)
with its tables and figures (``docs/results/`` beside the report).  Progress lines name the run,
the epoch and an estimate of the time left.  ``--jobs`` runs train at once, each in a process of
its own (default 2).

Experiments:
    wae      WAE-ResNet thesis: VAE, VAE-ResNet, WAE, WAE-ResNet on mnist5k (Tables 4.3-4.5, Figs 4.1-4.3)
    ocgan    OC-GAN: the six GANs, RAMP and COMBI on mnist5k, FID every epoch (Figs 2/6), collapses
    fedgan   B²-FedGAN: the federated grid on mnist5k and digits (Tables 2/3), GAN images' classes
    reid     attention-mask re-ID on the synthetic_reid stand-in: stage 1 vs all three stages
    pegan    PE-GAN vs the WGAN-GP baseline on synthetic_pxd (occupancy, intensity, Fréchet; Figs 3/4)

Budgets: ``standard`` trains every model until it works (each section within 90 minutes on
2 CPU cores, OC-GAN 150; RESULTS.md gives the measured time): only its claims are decided.
``quick`` (the default; minutes) and ``tiny`` (seconds) check the pipeline: their claims all read
"undecided (... budget: pipeline check)".  FID needs the
standard weights: ``make fid-weights``.
"""
from __future__ import annotations

import argparse
import sys

from keras_gens.cli import run_cli
from keras_gens.results import EXPERIMENTS, run
from keras_gens.results.common import BUDGETS


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m keras_gens.results", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("experiments", nargs="*", metavar="EXPERIMENT",
                        help=f"any of {', '.join(EXPERIMENTS)} (default: all)")
    parser.add_argument("--budget", default="quick", choices=BUDGETS)
    parser.add_argument("--seeds", type=int, default=3, help="seeds per compared setting (default 3)")
    parser.add_argument("--jobs", type=int, default=2,
                        help="runs trained at once, each in a process of its own (default 2; 1 trains them one "
                             "after another in this process)")
    parser.add_argument("--out", default="runs/results", help="folder of the runs (default runs/results)")
    parser.add_argument("--report", default="RESULTS.md", help="the report to (re)write (default RESULTS.md)")
    args = parser.parse_args(argv)
    unknown = [e for e in args.experiments if e not in EXPERIMENTS]
    if unknown:
        parser.error(f"unknown experiment(s) {', '.join(unknown)}; choose from {', '.join(EXPERIMENTS)}")
    return args


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    return run_cli(lambda: run(args, argv), {"--out": args.out, "--report": args.report})


if __name__ == "__main__":
    sys.exit(main())
