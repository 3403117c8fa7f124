"""Per-client GAN augmentation (B²-FedGAN): a ``bagan_gp`` or ``cgan`` trained on one client's data
only, then asked for each class's shortfall up to that client's majority class.

Each client's GAN is an ordinary ``keras_gens`` run (the registry's model, the one runner, its
checkpoints and sample grids) in ``OUT/clients/client_K/<method>/``, trained on the client's images
written beside it as ``data.npz``.  Nothing of one client reaches another or the server; only the
client itself uses the generated images.  A client's generated images are kept in
``generated.npz``, so an interrupted experiment resumes without retraining finished clients.

Only classes the client holds are filled: a class it never saw is one its GAN cannot draw.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import tensorflow as tf

from keras_gens.utils.io import atomic_write_bytes
from keras_gens.utils.progress import progress

METHODS = ("none", "cgan", "bagan_gp")


def shortfall(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """How many images each class the client holds lacks to match its largest class (0 for absent classes)."""
    counts = np.bincount(labels, minlength=num_classes)
    return np.where(counts > 0, counts.max() - counts, 0)


def gan_image_side(method: str, side: int, requested=None) -> int:
    """BAGAN-GP's convolutions need 4·2^k pixels (k ≥ 1): the smallest such side ≥ the data's.  CGAN: the data's."""
    if requested:
        return int(requested)
    if method == "cgan":
        return int(side)
    return max(8, 4 * 2 ** math.ceil(math.log2(max(side, 8) / 4)))


def generate_per_class(model, counts: np.ndarray, *, seed: int = 0, batch_size: int = 256) -> tuple:
    """``counts[c]`` images of each class c from a conditional generator: ([N, H, W, C] in [0, 1], labels)."""
    labels = np.repeat(np.arange(len(counts), dtype=np.int32), counts)
    if len(labels) == 0:
        shape = model.generator.output_shape[1:]
        return np.zeros((0, *shape), np.float32), labels
    z = model.sample_latent(len(labels), seed=seed)
    lo, hi = model.value_range
    images = [((model.generate(z[i:i + batch_size], labels[i:i + batch_size]).numpy() - lo) / (hi - lo))
              for i in range(0, len(labels), batch_size)]
    return np.clip(np.concatenate(images), 0.0, 1.0).astype(np.float32), labels


def _save_npz(path: Path, **arrays):
    import io

    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def augment_client(method: str, images: np.ndarray, labels: np.ndarray, num_classes: int, folder, *,
                   image_side=None, smoke=False, overrides=(), seed=0, verbose=0, log=print):
    """Train ``method`` on this client's (images in [0, 1], labels); return its generated (images, labels)."""
    from keras_gens import registry, runner

    folder = Path(folder)
    done = folder / "generated.npz"
    if done.is_file():
        with np.load(done) as archive:
            return archive["images"], archive["labels"]
    missing = shortfall(labels, num_classes)
    if missing.sum() == 0:
        return np.zeros((0, *images.shape[1:]), np.float32), np.zeros(0, np.int32)
    data_file = folder / "data.npz"
    if not data_file.is_file():
        _save_npz(data_file, images=np.round(images * 255).astype(np.uint8), labels=labels.astype(np.int32))
    side = gan_image_side(method, images.shape[1], image_side)
    spec = registry.get(method)
    batch = int(spec.config(smoke=smoke, overrides=list(overrides)).train.batch_size)
    settings = [f"data.source=npz:{data_file}", f"data.image_size={side}", "data.channels=1",
                "data.value_range=[-1, 1]", "data.crop=null", f"train.batch_size={min(batch, len(labels))}",
                f"train.seed={seed}", f"train.verbose={verbose}", "samples.count=40", *overrides]
    result = runner.train(method, out=folder / method, overrides=settings, smoke=smoke, log=log)
    generated, generated_labels = generate_per_class(result.model, missing, seed=seed)
    if generated.shape[1:3] != images.shape[1:3]:
        generated = tf.image.resize(generated, images.shape[1:3], method="area").numpy()
    generated = np.clip(generated, 0.0, 1.0).astype(np.float32)
    _save_npz(done, images=generated, labels=generated_labels)
    return generated, generated_labels


def augment_clients(method: str, x, y, client_indices, num_classes: int, out_dir, *, image_side=None, smoke=False,
                    overrides=(), seed=0, verbose=0, log=print) -> dict:
    """``{client: (generated images, labels)}`` for every client, each from its own GAN."""
    import time

    out = {}
    quiet = log if verbose >= 2 else (lambda *a, **k: None)
    for client in progress(range(len(client_indices)), total=len(client_indices), desc=f"{method} per client",
                           unit="client"):
        idx = client_indices[client]
        began = time.perf_counter()
        out[client] = augment_client(method, x[idx], y[idx], num_classes, Path(out_dir) / f"client_{client:03d}",
                                     image_side=image_side, smoke=smoke, overrides=overrides, seed=seed + client,
                                     verbose=max(verbose - 1, 0), log=quiet)
        if verbose >= 1:
            log(f"client {client + 1}/{len(client_indices)}: {len(idx)} images, {method} generated "
                f"{len(out[client][1])} ({time.perf_counter() - began:.0f}s)")
    total = sum(len(v[1]) for v in out.values())
    log(f"{method}: generated {total} images for {len(client_indices)} clients "
        f"({total / max(sum(len(i) for i in client_indices), 1):.0%} of the real training data)")
    return out
