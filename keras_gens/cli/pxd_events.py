"""Generate whole PXD events (40 hitmaps, one per sensor) from a trained hitmap generator.

    python -m keras_gens.pxd_events SRC --events N --out FILE.npz [--seed S] [--precision P]

SRC is a run directory of ``pe_gan`` or ``wgan_gp_cond`` (exported first, into RUN_DIR/export/<N>,
if it has no export yet; ``--precision mixed_bfloat16`` for a faster export) or a SavedModel.
The file holds ``images`` uint8 [N·40, 250, 768] (ADU, below-threshold pixels zeroed) and
``sensor_ids`` [N·40] (1–40): the format ``--data pxd:FILE`` and ``evaluate pxd --generated FILE``
read.  Prints the seconds per event.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from keras_gens.cli import run_cli
from keras_gens.config import COMMON_CHOICES
from keras_gens.errors import UserError
from keras_gens.sampling import generate_events


# The zip comment of the .npz files this command writes (numpy's readers ignore it).
EVENTS_MARK = b"keras_gens.pxd_events"


def is_events_file(path) -> bool:
    """Whether ``path`` is an events file this command wrote, which a later run may replace."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            return archive.comment == EVENTS_MARK
    except (OSError, zipfile.BadZipFile):
        return False


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m keras_gens.pxd_events", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("src", help="a pe_gan/wgan_gp_cond run directory or SavedModel")
    parser.add_argument("--events", type=int, default=10)
    parser.add_argument("--out", required=True, help="the .npz file to write")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--precision", choices=COMMON_CHOICES["train.precision"],
                        help="when SRC is a run without an export: the export's compute precision")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)

    def work():
        import io
        import zipfile

        import numpy as np

        from keras_gens.outputs import check_file
        from keras_gens.utils.io import atomic_write_bytes

        if args.events < 1:
            raise UserError("--events must be at least 1")
        out = check_file(args.out, "--out", is_events_file, "python -m keras_gens.pxd_events")
        images, sensor_ids, seconds = generate_events(args.src, args.events, args.seed, args.precision)
        buffer = io.BytesIO()
        np.savez_compressed(buffer, images=images, sensor_ids=sensor_ids)
        with zipfile.ZipFile(buffer, "a") as archive:  # the mark that lets a later run replace this file
            archive.comment = EVENTS_MARK
        atomic_write_bytes(out, buffer.getvalue())
        print(f"wrote {args.events} events ({len(images)} hitmaps {images.shape[1]}x{images.shape[2]}) to "
              f"{args.out}; {seconds:.3f} s per event")
        return 0

    return run_cli(work, {"SRC": args.src, "--out": args.out})


if __name__ == "__main__":
    sys.exit(main())
