"""``keras-gens``: every command of the suite under one name.

    keras-gens train NAME [key=value ...]    the same as python -m keras_gens.train NAME ...
    keras-gens --help                        the commands
    keras-gens --version                     the package's version and the stack it runs on

Each subcommand takes exactly the arguments of its ``python -m`` form and behaves the same.  Other
packages add subcommands through the ``keras_gens.commands`` entry-point group (``name = module:main``);
federated/ adds ``simulate`` and ``grid`` that way, so this package never imports it.
"""
from __future__ import annotations

import difflib
import importlib
import sys
from importlib import metadata

# name: (module whose main(argv) runs it, what it does)
COMMANDS = {
    "train": ("keras_gens.cli.train", "train a registered model (keras-gens train --list shows them)"),
    "export": ("keras_gens.cli.export", "write a run's generator as a SavedModel that TF Serving loads"),
    "generate": ("keras_gens.cli.generate", "write sample PNGs from a run or a SavedModel"),
    "evaluate": ("keras_gens.cli.evaluate", "FID, KID, IS, precision/recall, density/coverage, sharpness, "
                                            "re-ID mAP/CMC, PXD validation"),
    "compare": ("keras_gens.cli.compare", "the WAE-ResNet thesis's comparison of its four auto-encoders"),
    "results": ("keras_gens.cli.results", "train and judge each paper's claims into RESULTS.md"),
    "ocgan": ("keras_gens.cli.ocgan", "OC-GAN's GANs against their octave variants"),
    "pxd-events": ("keras_gens.cli.pxd_events", "PXD events (hitmaps) from a PE-GAN export"),
}
PLUGIN_GROUP = "keras_gens.commands"
# What each plug-in needs beyond this package, by the distribution module its entry point lives in.
PLUGIN_NEEDS = {"federated": ("tensorflow_federated", "the federated stack: pip install \"keras_gens[federated]\" "
                                                      "on Python 3.11, or make install")}


def plugins() -> dict:
    """{name: entry point} of the subcommands other packages (federated/) add."""
    return {ep.name: ep for ep in metadata.entry_points(group=PLUGIN_GROUP) if ep.name not in COMMANDS}


def _missing(entry_point) -> str | None:
    """What a plug-in subcommand needs that is not installed (None when it can run)."""
    import importlib.util

    need = PLUGIN_NEEDS.get(entry_point.value.split(".")[0].split(":")[0])
    if need and importlib.util.find_spec(need[0]) is None:
        return need[1]
    return None


def stack() -> str:
    """The package's version and what it runs on, read from the installed distributions."""
    def version(name):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    parts = [f"Python {sys.version.split()[0]}", f"TensorFlow {version('tensorflow') or 'not installed'}"]
    for name, label in (("tf-keras", "tf_keras"), ("tensorflow-federated", "TFF")):
        if version(name):
            parts.append(f"{label} {version(name)}")
    from keras_gens import compat

    return f"keras-gens {version('keras_gens') or 'unknown'} ({compat.stack()} stack: {', '.join(parts)})"


def usage() -> str:
    lines = ["usage: keras-gens COMMAND [arguments]  (keras-gens COMMAND --help for each)", "", "commands:"]
    lines += [f"  {name:<11} {summary}" for name, (_, summary) in COMMANDS.items()]
    for name, ep in sorted(plugins().items()):
        missing = _missing(ep)
        lines.append(f"  {name:<11} {ep.value.split(':')[0]}" + (f" (needs {missing})" if missing else ""))
    lines += ["", "options:", "  -h, --help  this list", "  --version   the version and the stack it runs on"]
    return "\n".join(lines)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage(), file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    if argv[0] == "--version":
        print(stack())
        return 0
    name, rest = argv[0], argv[1:]
    if name in COMMANDS:
        return importlib.import_module(COMMANDS[name][0]).main(rest)
    extra = plugins()
    if name in extra:
        missing = _missing(extra[name])
        if missing:
            print(f"error: keras-gens {name} needs {missing}", file=sys.stderr)
            return 2
        return extra[name].load()(rest)
    close = difflib.get_close_matches(name, [*COMMANDS, *extra], n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    print(f"error: unknown command '{name}'{hint} (keras-gens --help lists them)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
