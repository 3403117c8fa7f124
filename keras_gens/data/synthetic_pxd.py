"""A seeded stand-in for Belle II PXD background hitmaps, in the format ``keras_gens.data.pxd`` reads.

The real simulation is not public; this lets PE-GAN, its evaluation and its benchmark run anywhere
(``--data synthetic_pxd``, the smoke runs, the tests).  What it imitates:

* 40 sensors: 16 in the inner layer with a higher background than the 24 of the outer layer, and
  a ladder-dependent modulation (``sensor_occupancies``); each hitmap's occupancy fluctuates
  around its sensor's mean (a Gamma factor, shape 20).
* Sparse hits grouped in clusters: each cluster is a short random walk of 1 + Geometric pixels,
  its charge Landau-like (log-normal) and shared unevenly among its pixels.
* The readout threshold: every fired pixel has at least 7 ADU, so intensities have the 0–7 gap.
* Background is denser towards one end of the sensor (a linear gradient along the columns).

The number of fired pixels of each hitmap is drawn first and exactly that many distinct pixels
are fired, so a sensor's mean occupancy matches its configured value.

    python tools/synthetic_pxd.py OUT.npz [--events 8] [--seed 0]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from keras_gens.data.pxd import COLUMNS, ROWS, SENSORS, THRESHOLD_ADU

VERSION = 1  # bump when the hitmaps change, so cached copies are rewritten
INNER_SENSORS = 16


def sensor_occupancies(inner: float = 0.012, outer: float = 0.004, modulation: float = 0.3) -> np.ndarray:
    """Mean occupancy of sensors 1–40: the inner 16 at ``inner``, the outer 24 at ``outer``, each
    modulated by ±``modulation`` around its layer's ring (ladders see different background)."""
    ids = np.arange(SENSORS)
    inner_layer = ids < INNER_SENSORS
    position = np.where(inner_layer, ids / INNER_SENSORS, (ids - INNER_SENSORS) / (SENSORS - INNER_SENSORS))
    base = np.where(inner_layer, inner, outer)
    return base * (1.0 + modulation * np.cos(2 * np.pi * position))


def hitmap(rng: np.random.Generator, occupancy: float, rows: int = ROWS, cols: int = COLUMNS,
           mean_cluster_size: float = 3.0, fluctuation_shape: float = 20.0) -> np.ndarray:
    """One uint8 [rows, cols] hitmap with ``occupancy`` expected fraction of fired pixels."""
    image = np.zeros((rows, cols), np.uint8)
    target = int(round(occupancy * rng.gamma(fluctuation_shape, 1.0 / fluctuation_shape) * rows * cols))
    if target == 0:
        return image
    # Clusters until well over the target (overlaps merge pixels), then the first `target` distinct ones.
    clusters = int(target / mean_cluster_size * 1.5) + 4
    sizes = rng.geometric(1.0 / mean_cluster_size, clusters)  # 1, 2, ... pixels, mean mean_cluster_size
    # Denser towards column 0: inverse-CDF draw from a density falling linearly to a third.
    u = rng.random(clusters)
    slope = 2.0 / 3.0
    centre_cols = cols * (1 - np.sqrt(1 - u * (2 - slope) * slope)) / slope
    centre_rows = rng.random(clusters) * rows
    owner = np.repeat(np.arange(clusters), sizes)
    steps = np.array([[0, 1], [1, 0], [0, -1], [-1, 0]])[rng.integers(0, 4, len(owner))]
    first = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    steps[first] = 0  # each walk starts at its centre
    walk = np.cumsum(steps, axis=0)
    walk -= np.repeat(walk[first], sizes, axis=0)
    r = np.clip(np.floor(centre_rows[owner]).astype(int) + walk[:, 0], 0, rows - 1)
    c = np.clip(np.floor(centre_cols[owner]).astype(int) + walk[:, 1], 0, cols - 1)
    linear = r * cols + c
    _, first_seen = np.unique(linear, return_index=True)
    chosen = np.sort(first_seen)[:target]  # in the order the clusters were drawn
    # Landau-like cluster charge, shared by uneven weights; every fired pixel is over threshold.
    charge = np.exp(rng.normal(np.log(60.0), 0.6, clusters))
    weights = rng.gamma(2.0, 1.0, len(owner))
    share = weights / np.bincount(owner, weights)[owner]
    adu = np.clip(np.round(charge[owner] * share), THRESHOLD_ADU, 255)
    image.reshape(-1)[linear[chosen]] = adu[chosen].astype(np.uint8)
    return image


def make_events(events: int, seed: int = 0, occupancies: np.ndarray | None = None,
                rows: int = ROWS, cols: int = COLUMNS) -> tuple[np.ndarray, np.ndarray]:
    """``events`` × 40 hitmaps (uint8 [E·40, rows, cols]) and their sensor ids (1–40, in order per event)."""
    occupancies = sensor_occupancies() if occupancies is None else np.asarray(occupancies, np.float64)
    rng = np.random.default_rng(seed)
    images = np.stack([hitmap(rng, occupancies[s], rows, cols) for _ in range(events) for s in range(SENSORS)])
    sensor_ids = np.tile(np.arange(1, SENSORS + 1, dtype=np.int32), events)
    return images, sensor_ids


def write_events(path, events: int = 8, seed: int = 0) -> Path:
    import io

    from keras_gens.utils.io import atomic_write_bytes

    images, sensor_ids = make_events(events, seed)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, images=images, sensor_ids=sensor_ids,
                        occupancies=sensor_occupancies(), version=VERSION)
    path = Path(path)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def cached_copy(events: int = 8) -> Path:
    """The default stand-in, written once into ``$KERAS_GENS_HOME/data``."""
    from keras_gens.metrics.inception import home

    file = home() / f"synthetic_pxd-v{VERSION}-{events}events.npz"
    if not file.is_file():
        write_events(file, events, seed=0)
    return file


def load_synthetic_pxd(path, data_cfg, preprocess):
    from keras_gens.data.pxd import hitmap_source, read_hitmaps

    file = Path(path).expanduser() if path else cached_copy()
    if path and not file.exists():
        write_events(file, 8, seed=0)
    images, sensor_ids = read_hitmaps(file)
    return hitmap_source("synthetic_pxd", images, sensor_ids, data_cfg, preprocess)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", help="the .npz file to write")
    parser.add_argument("--events", type=int, default=8, help="events of 40 hitmaps each")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    path = write_events(args.out, args.events, args.seed)
    print(f"wrote {args.events} events ({args.events * SENSORS} hitmaps {ROWS}x{COLUMNS}) to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
