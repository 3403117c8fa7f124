"""Sharpness of images: two definitions, named apart because their scales differ.

``gradient_sharpness`` is the WAE-ResNet thesis's metric (its section 2.5):
grayscale → image gradient → √(g_x² + g_y²) → mean over pixels and images.
It is computed on grayscale values in [0, 255] (the scale of the thesis's
tables, 6–10 on CelebA faces); gradients are central differences
(``numpy.gradient``), one-sided at the borders.

``laplacian_variance`` is what the official WAE code reports: the variance of
the 5-point Laplacian ``[[0, 1, 0], [1, −4, 1], [0, 1, 0]]`` (valid positions
only) of each grayscale image in [−1, 1], averaged over images.

Both take images in their model's ``value_range`` ([0, 1] by default) and
return a float; larger is sharper, a flat image scores 0.
"""
from __future__ import annotations

import numpy as np

LUMA = np.array([0.299, 0.587, 0.114])


def _grayscale_unit(images, value_range) -> np.ndarray:
    """Images [N, H, W, C] (or [H, W, C]) in value_range -> grayscale [N, H, W] float64 in [0, 1]."""
    images = np.asarray(images, dtype=np.float64)
    if images.ndim == 3:
        images = images[None]
    lo, hi = value_range
    images = np.clip((images - lo) / (hi - lo), 0.0, 1.0)
    if images.shape[-1] == 3:
        return images @ LUMA
    if images.shape[-1] == 1:
        return images[..., 0]
    raise ValueError(f"images must have 1 or 3 channels, got shape {images.shape}")


def gradient_sharpness(images, value_range=(0.0, 1.0), per_image: bool = False):
    """The thesis's sharpness: mean gradient magnitude of the grayscale image on a 0–255 scale."""
    gray = _grayscale_unit(images, value_range) * 255.0
    grad_y, grad_x = np.gradient(gray, axis=(1, 2))
    magnitude = np.sqrt(grad_x ** 2 + grad_y ** 2)
    values = magnitude.mean(axis=(1, 2))
    return values if per_image else float(values.mean())


def laplacian_variance(images, value_range=(0.0, 1.0), per_image: bool = False):
    """The official WAE code's sharpness: variance of the Laplacian of the grayscale image in [−1, 1]."""
    gray = _grayscale_unit(images, value_range) * 2.0 - 1.0
    lap = (gray[:, :-2, 1:-1] + gray[:, 2:, 1:-1] + gray[:, 1:-1, :-2] + gray[:, 1:-1, 2:]
           - 4.0 * gray[:, 1:-1, 1:-1])
    values = lap.var(axis=(1, 2))
    return values if per_image else float(values.mean())
