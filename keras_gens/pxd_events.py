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
import time
from pathlib import Path

from keras_gens.cli import run_cli
from keras_gens.config import COMMON_CHOICES
from keras_gens.errors import UserError


def event_signature(src, compute_precision=None):
    """The ``event`` signature of SRC's SavedModel (exporting a run directory first if needed)."""
    import tensorflow as tf

    from keras_gens.generate import _saved_model_dir

    src = Path(src)
    saved = _saved_model_dir(src)
    if saved is None and (src / "export").is_dir():
        saved = _saved_model_dir(src / "export")
    if saved is None:
        if not (src / "run.yaml").is_file():
            raise UserError(f"{src} is neither a run directory (run.yaml) nor a SavedModel (saved_model.pb)")
        from keras_gens.export import export_run

        saved = export_run(src, compute_precision=compute_precision)
    loaded = tf.saved_model.load(str(saved))
    if "event" not in loaded.signatures:
        raise UserError(f"{saved} has no 'event' signature: it is not a PXD hitmap generator (pe_gan, wgan_gp_cond)")
    return loaded, loaded.signatures["event"]


def generate_events(src, events: int, seed: int = 0, compute_precision=None):
    """(uint8 [events·40, rows, W], sensor ids [events·40], seconds per event)."""
    import numpy as np
    import tensorflow as tf

    from keras_gens.utils.progress import progress

    _, event = event_signature(src, compute_precision)
    images, sensor_ids, times = [], [], []
    for e in progress(range(events), total=events, desc="events", unit="event"):
        started = time.perf_counter()
        out = event(seed=tf.constant(seed * 1_000_003 + e, tf.int64))
        images.append(out["hitmaps"].numpy())
        times.append(time.perf_counter() - started)
        sensor_ids.append(out["sensor_ids"].numpy())
    # The first event also loads and optimizes the graph: the median says what an event costs.
    return np.concatenate(images), np.concatenate(sensor_ids), float(np.median(times))


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

        import numpy as np

        from keras_gens.utils.io import atomic_write_bytes

        if args.events < 1:
            raise UserError("--events must be at least 1")
        images, sensor_ids, seconds = generate_events(args.src, args.events, args.seed, args.precision)
        buffer = io.BytesIO()
        np.savez_compressed(buffer, images=images, sensor_ids=sensor_ids)
        atomic_write_bytes(Path(args.out), buffer.getvalue())
        print(f"wrote {args.events} events ({len(images)} hitmaps {images.shape[1]}x{images.shape[2]}) to "
              f"{args.out}; {seconds:.3f} s per event")
        return 0

    return run_cli(work)


if __name__ == "__main__":
    sys.exit(main())
