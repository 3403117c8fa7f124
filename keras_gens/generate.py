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
from pathlib import Path

from keras_gens.cli import run_cli
from keras_gens.errors import UserError


def _saved_model_dir(src: Path) -> Path | None:
    if (src / "saved_model.pb").is_file():
        return src
    versions = sorted((int(p.name) for p in src.glob("*") if p.name.isdigit() and (p / "saved_model.pb").is_file()))
    return src / str(versions[-1]) if versions else None


def sample_batches(src, n: int, seed: int = 0, batch_size: int = 64):
    """Yield ``(uint8 images, labels or None)`` batches, ``n`` images in all."""
    import tensorflow as tf

    src = Path(src)
    saved = _saved_model_dir(src)
    if saved is not None:
        loaded = tf.saved_model.load(str(saved))
        sample = loaded.signatures["sample"]
        done = 0
        while done < n:
            count = min(batch_size, n - done)
            out = sample(n=tf.constant(count, tf.int32), seed=tf.constant(seed * 100003 + done, tf.int64))
            # The labels the signature used: file names must name the class actually drawn.
            labels = out["labels"].numpy() if "labels" in out else None
            yield out["images"].numpy(), labels
            done += count
        return
    if not (src / "run.yaml").is_file():
        raise UserError(f"{src} is neither a run directory (run.yaml) nor a SavedModel (saved_model.pb)")
    from keras_gens.runner import build_from_run

    _, _, model, _ = build_from_run(src)
    yield from model_batches(model, n, seed, batch_size)


def model_batches(model, n: int, seed: int = 0, batch_size: int = 64):
    """Yield ``(uint8 images, labels or None)`` batches of ``n`` samples from an in-memory model."""
    import numpy as np
    import tensorflow as tf

    from keras_gens.utils.images import to_uint8

    z_all = model.sample_latent(n, seed=seed)
    labels_all = model.sample_labels(n)
    for start in range(0, n, batch_size):
        z = z_all[start:start + batch_size]
        labels = None if labels_all is None else labels_all[start:start + batch_size]
        images = model.generate(tf.constant(z), None if labels is None else tf.constant(labels))
        yield to_uint8(np.asarray(images), model.value_range), labels


def generate(src, n: int, out_dir, seed: int = 0, grid=None) -> list[Path]:
    import numpy as np

    from keras_gens.utils.images import make_grid, save_png
    from keras_gens.utils.progress import progress

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written, kept = [], []
    for images, labels in progress(sample_batches(src, n, seed), desc="generating", unit="batch"):
        for i, image in enumerate(images):
            index = len(written)
            suffix = f"_c{int(labels[i])}" if labels is not None else ""
            path = out_dir / f"{index:05d}{suffix}.png"
            save_png(path, image)
            written.append(path)
            if grid and len(kept) < 64:
                kept.append(image)
    if grid and kept:
        save_png(grid, make_grid(np.stack(kept)))
    return written


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
        paths = generate(args.src, args.n, args.out, args.seed, args.grid)
        print(f"wrote {len(paths)} images to {args.out}")
        return 0

    return run_cli(work)


if __name__ == "__main__":
    sys.exit(main())
