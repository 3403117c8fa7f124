"""Fidelity and diversity from k-nearest-neighbour balls in feature space.

Each set's manifold is estimated as the union of balls around its points, each
ball reaching the point's k-th nearest neighbour within its own set.

* **Improved precision and recall** (Kynkäänniemi et al., 2019, k = 3): precision
  is the share of generated points inside the real manifold (fidelity); recall
  the share of real points inside the generated manifold (diversity).
* **Density and coverage** (Naeem et al., 2020, k = 5): density counts how many
  real balls hold each generated point, divided by k (1 on average when the sets
  match; not capped at 1, and robust to a few outliers in the real set that
  inflate precision); coverage is the share of real points whose own ball holds
  at least one generated point (robust to outliers in the generated set, which
  inflate recall).

Membership is strict (distance < radius), as in the ``prdc`` package of Naeem
et al.; with continuous features ties have probability zero.  A point's k-th
neighbour excludes the point itself.  Distances are Euclidean, in float64, and
computed in row blocks so that 50,000 × 50,000 sets need only a few hundred MB.
"""
from __future__ import annotations

import numpy as np

# Rows of the distance matrix computed at once: 1,024 × 50,000 float64 is 400 MB.
BLOCK_ROWS = 1024


def _as_features(x, what: str) -> np.ndarray:
    x = np.asarray(x, np.float64)
    if x.ndim != 2:
        raise ValueError(f"{what} features must be [N, d]; got shape {x.shape}")
    return x


def _distance_blocks(a: np.ndarray, b: np.ndarray):
    """``(start, D)`` for row blocks of the Euclidean distances between ``a`` and ``b``."""
    b_sq = np.einsum("ij,ij->i", b, b)
    for start in range(0, len(a), BLOCK_ROWS):
        rows = a[start:start + BLOCK_ROWS]
        sq = np.einsum("ij,ij->i", rows, rows)[:, None] + b_sq[None, :] - 2.0 * rows @ b.T
        yield start, np.sqrt(np.maximum(sq, 0.0))


def nearest_neighbour_radii(x, k: int) -> np.ndarray:
    """The distance from each point of ``x`` to its k-th nearest other point of ``x``."""
    x = _as_features(x, "the")
    if not 1 <= k < len(x):
        raise ValueError(f"k = {k} nearest neighbours need more than {k} points; got {len(x)}")
    radii = np.empty(len(x))
    for start, block in _distance_blocks(x, x):
        # Each row's own zero distance sorts first, so the k-th other point is at index k.
        rows = np.arange(len(block))
        block[rows, start + rows] = -np.inf
        radii[start:start + len(block)] = np.partition(block, k, axis=1)[:, k]
    return radii


def _counts_inside(points: np.ndarray, centres: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """For each point, how many of the balls (``centres``, ``radii``) hold it."""
    counts = np.zeros(len(points), np.int64)
    for start, block in _distance_blocks(points, centres):
        counts[start:start + len(block)] = (block < radii[None, :]).sum(axis=1)
    return counts


def _check_pair(real, fake, k):
    real, fake = _as_features(real, "real"), _as_features(fake, "generated")
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"real and generated features differ in dimension: {real.shape[1]} and {fake.shape[1]}")
    for name, x in (("real", real), ("generated", fake)):
        if len(x) <= k:
            raise ValueError(f"k = {k} nearest neighbours need more than {k} {name} features; got {len(x)}")
    return real, fake


def precision_recall(real, fake, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al., 2019), in [0, 1]."""
    real, fake = _check_pair(real, fake, k)
    precision = float(np.mean(_counts_inside(fake, real, nearest_neighbour_radii(real, k)) > 0))
    recall = float(np.mean(_counts_inside(real, fake, nearest_neighbour_radii(fake, k)) > 0))
    return precision, recall


def density_coverage(real, fake, k: int = 5) -> tuple[float, float]:
    """Density (≥ 0, 1 for matching sets) and coverage (in [0, 1]) of Naeem et al., 2020."""
    real, fake = _check_pair(real, fake, k)
    radii = nearest_neighbour_radii(real, k)
    density = float(_counts_inside(fake, real, radii).mean() / k)
    nearest_fake = np.empty(len(real))
    for start, block in _distance_blocks(real, fake):
        nearest_fake[start:start + len(block)] = block.min(axis=1)
    coverage = float(np.mean(nearest_fake < radii))
    return density, coverage
