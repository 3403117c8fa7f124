"""Write generated images as PNG files.

    python -m keras_gens.generate RUN_DIR|SAVEDMODEL --n N --out DIR [--seed S] [--grid FILE]

SRC may be a run directory (its latest checkpoint), a SavedModel written by
``keras_gens.export``, or an export base folder (its highest version).
Files are named 00000.png, 00001.png, ...; conditional models cycle through
the classes, and the class is appended to the name (00003_c3.png).
"""
from __future__ import annotations

import argparse
import sys

from keras_gens.cli import run_cli
from keras_gens.errors import UserError
from keras_gens.sampling import write_samples


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m keras_gens.generate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("src", help="run directory, SavedModel, or export base folder")
    parser.add_argument("--n", type=int, default=64, help="number of images (default 64)")
    parser.add_argument("--out", required=True, help="folder for the PNG files")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--grid", help="also write the first 64 images as one grid PNG here")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)

    def work():
        if args.n < 1:
            raise UserError("--n must be at least 1")
        paths = write_samples(args.src, args.n, args.out, args.seed, args.grid)
        print(f"wrote {len(paths)} images to {args.out}")
        return 0

    return run_cli(work, {"SRC": args.src, "--out": args.out, "--grid": args.grid})


if __name__ == "__main__":
    sys.exit(main())
