"""Drawing samples from a trained generator: in memory, from a run directory, or from a SavedModel.

``sample_batches`` takes a run directory (its latest checkpoint), a SavedModel
written by ``keras_gens.export``, or an export base folder (its highest version).
Conditional models cycle through the classes.  ``generate_events`` draws whole
PXD events (40 hitmaps, one per sensor) through the export's ``event`` signature.
"""
from __future__ import annotations

import time
from pathlib import Path

from keras_gens.errors import UserError
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

    z_all = model.sample_latent(n, seed=seed)
    labels_all = model.sample_labels(n)
    for start in range(0, n, batch_size):
        z = z_all[start:start + batch_size]
        labels = None if labels_all is None else labels_all[start:start + batch_size]
        images = model.generate(tf.constant(z), None if labels is None else tf.constant(labels))
        yield to_uint8(np.asarray(images), model.value_range), labels


def write_samples(src, n: int, out_dir, seed: int = 0, grid=None) -> list[Path]:
    """``n`` PNG files in ``out_dir`` (00000.png, ...; ``_cC`` appended for class C), and ``grid``:
    the first 64 as one picture."""
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
