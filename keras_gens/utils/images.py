"""Turning model outputs into pictures: value ranges, grids, PNG files."""
from __future__ import annotations

import math
import zlib
from pathlib import Path

import numpy as np

from keras_gens.utils.io import atomic_write_bytes


def to_uint8(images, value_range=(0.0, 1.0)) -> np.ndarray:
    """Map float images in ``value_range`` to uint8 [0, 255] (clipping what lies outside)."""
    images = np.nan_to_num(np.asarray(images, dtype=np.float32), nan=0.0)
    lo, hi = float(value_range[0]), float(value_range[1])
    scaled = (images - lo) / (hi - lo)
    return np.clip(np.round(scaled * 255.0), 0, 255).astype(np.uint8)


def make_grid(images: np.ndarray, ncols: int | None = None, pad: int = 2, pad_value: int = 255) -> np.ndarray:
    """Tile uint8 images [N, H, W, C] into one [rows·(H+pad)+pad, cols·(W+pad)+pad, C] picture."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    n, h, w, c = images.shape
    ncols = ncols or max(1, int(math.ceil(math.sqrt(n))))
    nrows = int(math.ceil(n / ncols))
    grid = np.full((nrows * (h + pad) + pad, ncols * (w + pad) + pad, c), pad_value, dtype=images.dtype)
    for i in range(n):
        r, col = divmod(i, ncols)
        y, x = pad + r * (h + pad), pad + col * (w + pad)
        grid[y:y + h, x:x + w] = images[i]
    return grid


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# A tEXt chunk "Software: keras_gens" right after the header: it marks the PNGs keras_gens writes, so that a
# command may replace its own earlier picture (a --grid) and refuse to overwrite anyone else's.
_SOFTWARE = b"tEXt" + b"Software\x00keras_gens"
SOFTWARE_CHUNK = len(_SOFTWARE[4:]).to_bytes(4, "big") + _SOFTWARE + zlib.crc32(_SOFTWARE).to_bytes(4, "big")
_HEADER_END = len(PNG_SIGNATURE) + 4 + 4 + 13 + 4  # the IHDR chunk: length, type, 13 bytes of data, CRC


def encode_png(image: np.ndarray) -> bytes:
    import cv2

    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 3:
        image = image[..., ::-1]  # OpenCV writes BGR
    ok, buf = cv2.imencode(".png", image)
    if not ok:
        raise RuntimeError("PNG encoding failed")
    data = buf.tobytes()
    return data[:_HEADER_END] + SOFTWARE_CHUNK + data[_HEADER_END:]


def is_keras_gens_png(path) -> bool:
    """Whether ``path`` is a PNG that keras_gens wrote (``encode_png``'s mark)."""
    try:
        with open(path, "rb") as f:
            head = f.read(_HEADER_END + len(SOFTWARE_CHUNK))
    except OSError:
        return False
    return head.startswith(PNG_SIGNATURE) and head[_HEADER_END:] == SOFTWARE_CHUNK


def save_png(path, image: np.ndarray):
    atomic_write_bytes(Path(path), encode_png(image))
