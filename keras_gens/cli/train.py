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

RESUMING = """\
resuming: re-running with the same --out continues from its last checkpoint
  (--resume auto). --resume never refuses a folder that holds a run;
  --resume require refuses one that does not. Without --out the run goes to
  runs/NAME-SOURCE (runs/NAME-SOURCE-smoke with --smoke).
"""


def smoke_settings() -> str:
    """One line per model: what ``--smoke`` trains (from the models' own smoke settings)."""
    from keras_gens import registry

    lines = []
    for name in registry.names():
        cfg = registry.get(name).config(smoke=True)
        epochs = f"{cfg.train.epochs} epochs"
        if "stage_epochs" in cfg.model:
            epochs = "+".join(str(e) for e in cfg.model.stage_epochs) + " epochs (stages)"
        elif "ae_epochs" in cfg.model:
            epochs += f" (+{cfg.model.ae_epochs} auto-encoder)"
        size = cfg.data.image_size
        size = f"{size[0]}x{size[1]}" if isinstance(size, list) else f"{size}x{size}"
        lines.append(f"  {name:16s}{epochs} on {cfg.data.source}, {size}")
    return "\n".join(lines)


def epilog() -> str:
    from keras_gens.data import describe_sources

    return (f"data sources (--data or data.source=):\n{describe_sources()}\n\n"
            f"--smoke trains (each model's 'smoke:' block in configs/NAME.yaml):\n{smoke_settings()}\n\n"
            + RESUMING)


class _Parser(argparse.ArgumentParser):
    """Builds the epilog only when help is shown: listing the sources and models imports TensorFlow."""

    def format_help(self):
        if self.epilog is None:
            self.epilog = epilog()
        return super().format_help()


def parse_args(argv):
    parser = _Parser(prog="python -m keras_gens.train", description="Train a registered model.",
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", nargs="?", help="model name (see --list)")
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="config overrides, e.g. train.epochs=2 model.latent_dim=64")
    parser.add_argument("--list", action="store_true", help="list the registered models and exit")
    parser.add_argument("--config", metavar="FILE", help="YAML file laid over the model's defaults")
    parser.add_argument("--data", metavar="SPEC", help="data source, e.g. digits or folder:PATH (see below)")
    parser.add_argument("--out", metavar="RUN_DIR", help="run directory (default: runs/NAME-SOURCE)")
    parser.add_argument("--smoke", action="store_true",
                        help="apply the model's small 'smoke' settings: embedded data, small widths, "
                             "a few epochs (per model: below)")
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

    return run_cli(work, {"--config": args.config, "--out": args.out})


if __name__ == "__main__":
    sys.exit(main())
