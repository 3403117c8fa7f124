"""OC-GAN's experiments: GANs and their octave variants trained with the same seed and budget,
scored every epoch, compared in one plot (the paper's Figures 2 and 6) and one sample sheet
per epoch (its Figure 4).

    python -m keras_gens.ocgan [--set pair|all|paper] [--base dcgan,lsgan,wgan] [--smoke] [--data SPEC]
                               [--metric auto|fid|kid|sharpness] [--samples N] [--out DIR] [key=value ...]

Sets:
    pair    each base and its octave variant (dcgan, dcgan_oct)              — Figure 2
    all     the six models                                                   — Figure 2, all panels
    paper   each base with the paper's OCT, LOW (α 0.99), RAMP and COMBI     — Figure 6

``--metric auto`` scores FID when the standard FID weights are installed
(``make fid-weights``) and the thesis's sharpness otherwise (KID needs the same
weights).  Each run lives in DIR/<label> and resumes when the command is run
again.  Writes DIR/<metric>_comparison.png, DIR/comparison.csv and .md, and
DIR/samples/epoch_NNNN.png (every run's fixed-latent samples side by side).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from keras_gens.cli import run_cli
from keras_gens.experiments.ocgan import BASES, SETS, default_out, experiment


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m keras_gens.ocgan", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides for every run")
    parser.add_argument("--set", default="pair", choices=SETS, dest="which")
    parser.add_argument("--base", default="dcgan", help=f"comma-separated bases for pair/paper ({', '.join(BASES)})")
    parser.add_argument("--data", help="data source for every run (default: the configs', CelebA)")
    parser.add_argument("--smoke", action="store_true", help="each model's small settings (embedded digits)")
    parser.add_argument("--metric", default="auto", choices=["auto", "fid", "kid", "sharpness"])
    parser.add_argument("--samples", type=int, help="generated images scored per epoch (eval.samples)")
    parser.add_argument("--out", help="folder for the runs and the comparison (default runs/ocgan; "
                                      "runs/ocgan-smoke with --smoke)")
    args = parser.parse_intermixed_args(sys.argv[1:] if argv is None else argv)
    bad = [o for o in args.overrides if "=" not in o]
    if bad:
        parser.error(f"expected key=value overrides, got {' '.join(bad)}")

    out = Path(args.out) if args.out else default_out(args.smoke)
    out_arg = args.out if args.out is not None else out  # '' is refused by name, never the default

    def work():
        rows = experiment(args.which, args.base.split(","), data=args.data, out=out_arg, overrides=args.overrides,
                          smoke=args.smoke, metric=args.metric, samples=args.samples)
        print((out / "comparison.md").read_text())
        print(f"written: {out}/comparison.csv, .md, the comparison plot and samples/epoch_*.png")
        return 0 if rows else 1

    return run_cli(work, {"--out": args.out})


if __name__ == "__main__":
    sys.exit(main())
