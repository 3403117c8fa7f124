"""Train several auto-encoders on the same data with the same budget, and tabulate them as the
WAE-ResNet thesis does (its Tables 4.3–4.5).

    python -m keras_gens.compare [MODEL ...] [--data SPEC] [--smoke] [--out DIR] [--protocol quick|thesis]
                                 [--random N] [--reconstructions N] [--reference N] [key=value ...]

MODELs default to vae vae_resnet wae wae_resnet.  Each is trained with the
runner into DIR/<model> (re-running resumes them), then evaluated on held-out
images (the data's test split where it has one):

    interpolations   sharpness of images decoded between the codes of held-out pairs (Table 4.3)
    random           FID and sharpness of --random samples from the prior (Table 4.4)
    reconstructions  FID and sharpness of --reconstructions held-out reconstructions (Table 4.5)

FID compares both with --reference real held-out images.  The counts come from
--protocol: quick (1,000 each, the default) or thesis (10,000 random samples,
40,000 reconstructions, 40,000 reference images, and the thesis's 80/20 CelebA
split, data.test_fraction=0.2: 162,079 training / 40,520 test images).  Counts
beyond the held-out split's size are capped, and the tables say what was scored.

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
from keras_gens.experiments.thesis import (PROTOCOLS, THESIS_MODELS, THESIS_TEST_FRACTION, compare, default_out,
                                           markdown_table)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m keras_gens.compare", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("items", nargs="*", metavar="MODEL|key=value",
                        help=f"models (default: {' '.join(THESIS_MODELS)}) and config overrides for all of them")
    parser.add_argument("--data", help="data source for every model (default: each model's config)")
    parser.add_argument("--smoke", action="store_true", help="each model's small settings (embedded digits)")
    parser.add_argument("--out", help="folder for the runs and tables (default runs/compare; runs/compare-smoke "
                                      "with --smoke)")
    parser.add_argument("--protocol", choices=sorted(PROTOCOLS), default="quick",
                        help="counts (and for thesis, the 80/20 split) of the evaluation; see above")
    for name, what in (("random", "random samples from the prior (Table 4.4)"),
                       ("reconstructions", "held-out images to reconstruct (Table 4.5)"),
                       ("reference", "real held-out images FID compares with")):
        parser.add_argument(f"--{name}", type=_positive, help=f"{what}; default: the protocol's")
    parser.add_argument("--samples", type=_positive, metavar="N",
                        help="sets --random, --reconstructions and --reference together (those given win)")
    parser.add_argument("--pairs", type=int, default=16, help="held-out pairs to interpolate between")
    parser.add_argument("--fid", choices=["auto", "on", "off"], default="auto",
                        help="FID columns: auto = when the FID weights are installed (default)")
    parser.add_argument("--fid-weights", help="converted FID weights (default: the standard location)")
    args = parser.parse_intermixed_args(sys.argv[1:] if argv is None else argv)
    models = [i for i in args.items if "=" not in i] or list(THESIS_MODELS)
    overrides = [i for i in args.items if "=" in i]
    counts = {name: next(v for v in (getattr(args, name), args.samples, PROTOCOLS[args.protocol][name])
                         if v is not None) for name in ("random", "reconstructions", "reference")}
    if args.protocol == "thesis" and not any(o.startswith("data.test_fraction=") for o in overrides):
        overrides.insert(0, f"data.test_fraction={THESIS_TEST_FRACTION}")

    out = Path(args.out) if args.out else default_out(args.smoke)
    out_arg = args.out if args.out is not None else out  # '' is refused by name, never the default

    def work():
        rows = compare(models, data=args.data, out=out_arg, overrides=overrides, smoke=args.smoke, **counts,
                       pairs=args.pairs, fid=args.fid, fid_weights=args.fid_weights)
        print("\n" + markdown_table(rows))
        print(f"\nwritten: {out / 'comparison.csv'} and comparison.md")
        return 0

    return run_cli(work, {"--out": args.out, "--fid-weights": args.fid_weights})


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


if __name__ == "__main__":
    sys.exit(main())
