"""The seeded stand-in data sets' writers: ``python -m keras_gens.data.synthetic_reid DIR`` and
``python tools/synthetic_pxd.py OUT.npz`` (what they write: keras_gens.data.synthetic_reid, .synthetic_pxd)."""
from __future__ import annotations

import argparse
import sys

from keras_gens.data import synthetic_pxd as synthetic_pxd_lib
from keras_gens.data import synthetic_reid as synthetic_reid_lib


def synthetic_reid(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m keras_gens.data.synthetic_reid",
                                     description=synthetic_reid_lib.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", help="folder to write (Market-1501 layout)")
    parser.add_argument("--train-ids", type=int, default=48)
    parser.add_argument("--test-ids", type=int, default=48)
    parser.add_argument("--images-per-camera", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    root = synthetic_reid_lib.write_market_layout(args.out, train_ids=args.train_ids, test_ids=args.test_ids,
                                                  images_per_camera=args.images_per_camera, seed=args.seed)
    counts = {d.name: len(list(d.iterdir())) for d in sorted(root.iterdir()) if d.is_dir()}
    print(f"wrote {root}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


def synthetic_pxd(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python tools/synthetic_pxd.py", description=synthetic_pxd_lib.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", help="the .npz file to write")
    parser.add_argument("--events", type=int, default=8, help="events of 40 hitmaps each")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    path = synthetic_pxd_lib.write_events(args.out, args.events, args.seed)
    shape = f"{synthetic_pxd_lib.ROWS}x{synthetic_pxd_lib.COLUMNS}"
    print(f"wrote {args.events} events ({args.events * synthetic_pxd_lib.SENSORS} hitmaps {shape}) to {path}")
    return 0
