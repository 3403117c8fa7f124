"""Train several auto-encoders on the same data with the same budget, and tabulate them as the
WAE-ResNet thesis does (its Tables 4.3–4.5).

    python -m keras_gens.compare [MODEL ...] [--data SPEC] [--smoke] [--out DIR] [--samples N] [key=value ...]

MODELs default to vae vae_resnet wae wae_resnet.  Each is trained with the
runner into DIR/<model> (re-running resumes them), then evaluated on held-out
images (the data's test split where it has one):

    interpolations   sharpness of images decoded between the codes of held-out pairs (Table 4.3)
    random           FID and sharpness of N samples from the prior (Table 4.4)
    reconstructions  FID and sharpness of N held-out reconstructions (Table 4.5)

Sharpness is the thesis's gradient sharpness (keras_gens.metrics.sharpness);
the official WAE code's Laplacian variance and the mean squared reconstruction
error are reported beside it.  FID (against N real held-out images) needs the
standard FID weights (``make fid-weights``); without them its columns stay empty.
Writes DIR/comparison.csv and DIR/comparison.md.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from keras_gens.cli import run_cli
from keras_gens.experiments.thesis import THESIS_MODELS, compare, markdown_table


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m keras_gens.compare", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("items", nargs="*", metavar="MODEL|key=value",
                        help=f"models (default: {' '.join(THESIS_MODELS)}) and config overrides for all of them")
    parser.add_argument("--data", help="data source for every model (default: each model's config)")
    parser.add_argument("--smoke", action="store_true", help="each model's small settings (embedded digits)")
    parser.add_argument("--out", default="runs/compare", help="folder for the runs and tables (default runs/compare)")
    parser.add_argument("--samples", type=int, default=1000, help="random samples and reconstructions to score")
    parser.add_argument("--pairs", type=int, default=16, help="held-out pairs to interpolate between")
    parser.add_argument("--fid", choices=["auto", "on", "off"], default="auto",
                        help="FID columns: auto = when the FID weights are installed (default)")
    parser.add_argument("--fid-weights", help="converted FID weights (default: the standard location)")
    args = parser.parse_intermixed_args(sys.argv[1:] if argv is None else argv)
    models = [i for i in args.items if "=" not in i] or list(THESIS_MODELS)
    overrides = [i for i in args.items if "=" in i]

    def work():
        rows = compare(models, data=args.data, out=args.out, overrides=overrides, smoke=args.smoke, n=args.samples,
                       pairs=args.pairs, fid=args.fid, fid_weights=args.fid_weights)
        print("\n" + markdown_table(rows))
        print(f"\nwritten: {Path(args.out) / 'comparison.csv'} and comparison.md")
        return 0

    return run_cli(work)


if __name__ == "__main__":
    sys.exit(main())
