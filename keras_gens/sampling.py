"""Drawing samples from a trained generator: in memory, from a run directory, or from a SavedModel.

``sample_batches`` takes a run directory (its latest checkpoint), a SavedModel
written by ``keras_gens.export``, or an export base folder (its highest version).
Conditional models cycle through the classes.  ``generate_events`` draws whole
PXD events (40 hitmaps, one per sensor) through the export's ``event`` signature.
"""
from __future__ import annotations

import itertools
import os
import re
import time
from pathlib import Path

from keras_gens.errors import UserError
from keras_gens.outputs import Kind, check_file, check_folder, mark, register_kind
from keras_gens.run_dirs import build_from_run, saved_model_dir
from keras_gens.serving import export_run


def sample_batches(src, n: int, seed: int = 0, batch_size: int = 64):
    """Yield ``(uint8 images, labels or None)`` batches, ``n`` images in all."""
    import tensorflow as tf

    src = Path(src)
    saved = saved_model_dir(src)
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
    _, _, model, _ = build_from_run(src)
    yield from model_batches(model, n, seed, batch_size)


def model_batches(model, n: int, seed: int = 0, batch_size: int = 64):
    """Yield ``(uint8 images, labels or None)`` batches of ``n`` samples from an in-memory model."""
    import numpy as np
    import tensorflow as tf

    from keras_gens.utils.images import to_uint8

    for z, labels in model.latent_batches(n, seed, batch_size):
        images = model.generate(tf.constant(z), None if labels is None else tf.constant(labels))
        yield to_uint8(np.asarray(images), model.value_range), labels


GENERATED_NAME = re.compile(r"\d{5,}(_c\d+)?\.png")


def _looks_generated(folder: Path) -> bool:
    """A set an earlier version wrote (no marker): only numbered PNG files."""
    entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
    return bool(entries) and all(p.is_file() and GENERATED_NAME.fullmatch(p.name) for p in entries)


# A generated set is replaced as a whole by the next ``generate`` into its folder: no stale images remain.
GENERATED = register_kind(Kind("generated", "a generated set", "python -m keras_gens.generate", own=("*.png",),
                               recognizes=_looks_generated, sealed=True))


def check_generate_paths(out_dir, grid=None) -> tuple[Path, Path | None]:
    """Where ``write_samples`` may write: a new, empty or generated-set folder, and a grid file that is new
    or a PNG keras_gens wrote, outside that folder (which is replaced whole).  Writes nothing."""
    from keras_gens.utils.images import is_keras_gens_png

    out_dir = check_folder(out_dir, GENERATED)
    if grid is None:
        return out_dir, None
    grid = check_file(grid, "--grid", is_keras_gens_png, "keras_gens (a sample grid)")
    if Path(os.path.abspath(grid)).is_relative_to(os.path.abspath(out_dir)):
        raise UserError(f"--grid {grid} lies inside --out {out_dir}, which a later generate replaces as a whole; "
                        "put the grid beside it")
    return out_dir, grid


def _check_space(folder: Path, first_batch_bytes: int, first_batch: int, n: int):
    """Refuse a set whose PNGs (sized by the first batch's) would not fit on the disk."""
    import shutil

    existing = folder
    while not existing.exists():
        existing = existing.parent
    needed = first_batch_bytes / max(first_batch, 1) * n
    free = shutil.disk_usage(existing).free
    if needed > free:
        raise UserError(f"--n {n} would write about {needed / 2**30:.1f} GiB of PNG files, more than the "
                        f"{free / 2**30:.1f} GiB free on {existing}; lower --n")


def write_samples(src, n: int, out_dir, seed: int = 0, grid=None) -> list[Path]:
    """``n`` PNG files in ``out_dir`` (00000.png, ...; ``_cC`` appended for class C), and ``grid``:
    the first 64 as one picture.

    The set is written into a temporary folder beside ``out_dir`` and renamed into place when complete,
    replacing an earlier set there whole (none of its images stay behind)."""
    import numpy as np

    from keras_gens.utils.images import encode_png, make_grid, save_png
    from keras_gens.utils.io import atomic_write_bytes, replace_dir, temp_dir_beside
    from keras_gens.utils.progress import progress

    out_dir, grid = check_generate_paths(out_dir, grid)
    batches = iter(sample_batches(src, n, seed))
    first = next(batches)
    encoded = [encode_png(image) for image in first[0]]
    _check_space(out_dir, sum(map(len, encoded)), len(encoded), n)
    tmp = temp_dir_beside(out_dir)
    written, kept = [], []
    try:
        for b, (images, labels) in enumerate(progress(itertools.chain([first], batches), total=-(-n // 64),
                                                      desc="generating", unit="batch")):
            for i, image in enumerate(images):
                index = len(written)
                suffix = f"_c{int(labels[i])}" if labels is not None else ""
                name = f"{index:05d}{suffix}.png"
                atomic_write_bytes(tmp / name, encoded[i] if b == 0 else encode_png(image))
                written.append(out_dir / name)
                if grid and len(kept) < 64:
                    kept.append(image)
        mark(tmp, GENERATED, images=len(written), seed=seed, source=str(src))
        replace_dir(tmp, out_dir)
    except BaseException:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if grid and kept:
        save_png(grid, make_grid(np.stack(kept)))
    return written


def event_signature(src, compute_precision=None):
    """The ``event`` signature of SRC's SavedModel (exporting a run directory first if needed)."""
    import tensorflow as tf

    src = Path(src)
    saved = saved_model_dir(src)
    if saved is None and (src / "export").is_dir():
        saved = saved_model_dir(src / "export")
    if saved is None:
        if not (src / "run.yaml").is_file():
            raise UserError(f"{src} is neither a run directory (run.yaml) nor a SavedModel (saved_model.pb)")
        name, _, model, _ = build_from_run(src, restore=False)
        if not model.generates_hitmaps:  # refused before an export is written into the run
            raise UserError(f"{src} holds a '{name}' run: it is not a PXD hitmap generator (pe_gan, wgan_gp_cond)")
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
