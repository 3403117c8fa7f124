"""The pictures auto-encoder papers show: random samples, reconstructions, latent interpolations.

Interpolation (the thesis's Figure 4.1): encode two real images, decode
points on the straight line between their codes; each row of the grid is the
first real image, the decoded points, then the second real image.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from keras_gens.utils.images import make_grid, save_png, to_uint8


def decode_in_batches(model, codes: np.ndarray, batch_size: int = 64) -> np.ndarray:
    return np.concatenate([np.asarray(model.generate(codes[i:i + batch_size]))
                           for i in range(0, len(codes), batch_size)])


def interpolate(model, images_a: np.ndarray, images_b: np.ndarray, steps: int = 8) -> np.ndarray:
    """Decoded images at ``steps`` evenly spaced interior points between the codes of a and b:
    [pairs, steps, H, W, C]."""
    code_a = np.asarray(model.encode(images_a))
    code_b = np.asarray(model.encode(images_b))
    t = np.linspace(0.0, 1.0, steps + 2)[1:-1].astype(np.float32)[None, :, None]
    codes = (1.0 - t) * code_a[:, None, :] + t * code_b[:, None, :]
    decoded = decode_in_batches(model, codes.reshape(-1, codes.shape[-1]))
    return decoded.reshape(len(images_a), steps, *decoded.shape[1:])


def interpolation_grid(images_a, decoded, images_b, value_range=(0.0, 1.0)) -> np.ndarray:
    rows = [np.concatenate([a[None], path, b[None]]) for a, path, b in zip(images_a, decoded, images_b)]
    return make_grid(to_uint8(np.concatenate(rows), value_range), ncols=decoded.shape[1] + 2)


def reconstruction_grid(real, reconstructed, value_range=(0.0, 1.0), cols: int = 8) -> np.ndarray:
    """Rows of real images, each followed by the row of their reconstructions."""
    real, fake = to_uint8(real, value_range), to_uint8(reconstructed, value_range)
    cols = min(cols, len(real))
    rows = []
    for start in range(0, len(real) // cols * cols, cols):
        rows += [real[start:start + cols], fake[start:start + cols]]
    return make_grid(np.concatenate(rows), ncols=cols)


def write_autoencoder_figures(model, heldout: np.ndarray, out_dir, *, n_random: int = 64, steps: int = 8,
                              seed: int = 0, write: bool = True) -> dict:
    """``random.png``, ``reconstructions.png`` (of ``heldout``) and ``interpolations.png`` (pairs of
    ``heldout`` images) in ``out_dir``; returns the generated arrays.  ``write=False`` only computes."""
    images = {
        "random": np.asarray(model.generate(model.sample_latent(n_random, seed=seed))),
        "reconstructions": np.asarray(model.reconstruct(heldout)),
    }
    half = len(heldout) // 2
    images["interpolations"] = interpolate(model, heldout[:half], heldout[half:2 * half], steps)
    if write:
        out_dir = Path(out_dir)
        vr = model.value_range
        save_png(out_dir / "random.png", make_grid(to_uint8(images["random"], vr)))
        save_png(out_dir / "reconstructions.png", reconstruction_grid(heldout, images["reconstructions"], vr))
        save_png(out_dir / "interpolations.png",
                 interpolation_grid(heldout[:half], images["interpolations"], heldout[half:2 * half], vr))
    return images
