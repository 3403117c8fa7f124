"""PE-GAN's physics validation of generated PXD hitmaps (uint8 ADU arrays [N, H, W]).

* Pixel intensity: the distribution of fired pixels' ADU (the paper's Figure 3), compared by the
  1-Wasserstein distance in ADU (how far, on average, intensity mass must move).
* Occupancy per sensor: each sensor's mean fraction of fired pixels (Figure 4), compared by the
  mean relative error over the sensors present.
* Fréchet distance between Gaussian fits of a per-image statistic vector.  The paper fits
  impact-parameter resolutions from a full reconstruction, which needs the Belle II software;
  here the vector is computed from the hitmap itself (``STATISTICS``), each statistic scaled by
  the real data's standard deviation so that ADU and fractions weigh alike.
"""
from __future__ import annotations

import numpy as np

from keras_gens.data.pxd import THRESHOLD_ADU, sensor_occupancy
from keras_gens.metrics.frechet import frechet_distance

STATISTICS = ("occupancy", "mean_adu", "std_adu", "clusters", "cluster_size", "row_centroid", "column_centroid")


def intensity_histogram(hitmaps, threshold: int = THRESHOLD_ADU) -> np.ndarray:
    """Counts of fired pixels (≥ ``threshold``) at each ADU value 0–255."""
    values = np.asarray(hitmaps).reshape(-1)
    return np.bincount(values[values >= threshold].astype(np.int64), minlength=256)[:256]


def intensity_distance(real_hist, fake_hist) -> float:
    """1-Wasserstein distance (ADU) between two intensity histograms; inf when one is empty."""
    real_hist, fake_hist = np.asarray(real_hist, np.float64), np.asarray(fake_hist, np.float64)
    if real_hist.sum() == 0 or fake_hist.sum() == 0:
        return float("inf")
    return float(np.abs(np.cumsum(real_hist / real_hist.sum()) - np.cumsum(fake_hist / fake_hist.sum())).sum())


def occupancy_error(real_occupancy, fake_occupancy) -> float:
    """Mean |generated − real| / real over the sensors with real hits."""
    real, fake = np.asarray(real_occupancy, np.float64), np.asarray(fake_occupancy, np.float64)
    present = np.isfinite(real) & np.isfinite(fake) & (real > 0)
    return float(np.mean(np.abs(fake[present] - real[present]) / real[present])) if present.any() else float("nan")


def image_statistics(hitmaps, threshold: int = THRESHOLD_ADU) -> np.ndarray:
    """[N, len(STATISTICS)]: occupancy, mean and std of fired ADU, clusters per 1000 pixels (8-connected),
    mean cluster size in pixels, and the fired pixels' mean row and column as fractions of the sensor."""
    from scipy import ndimage

    hitmaps = np.asarray(hitmaps)
    n, height, width = hitmaps.shape[:3]
    hitmaps = hitmaps.reshape(n, height, width)
    rows, cols = np.mgrid[0:height, 0:width]
    structure = np.ones((3, 3), bool)
    out = np.zeros((n, len(STATISTICS)))
    for i, image in enumerate(hitmaps):
        fired = image >= threshold
        count = int(fired.sum())
        if count == 0:
            out[i] = [0.0, 0.0, 0.0, 0.0, 0.0, 0.5, 0.5]
            continue
        values = image[fired].astype(np.float64)
        _, clusters = ndimage.label(fired, structure=structure)
        out[i] = [count / fired.size, values.mean(), values.std(), 1000.0 * clusters / fired.size,
                  count / clusters, rows[fired].mean() / height, cols[fired].mean() / width]
    return out


def statistics_frechet(real_stats, fake_stats) -> float:
    """Fréchet distance between Gaussian fits of per-image statistics, in units of the real spread."""
    real_stats, fake_stats = np.asarray(real_stats, np.float64), np.asarray(fake_stats, np.float64)
    if len(real_stats) < 2 or len(fake_stats) < 2:
        raise ValueError("the Fréchet distance needs at least two images on each side")
    scale = real_stats.std(axis=0)
    scale[scale == 0] = 1.0
    real_stats, fake_stats = real_stats / scale, fake_stats / scale
    return frechet_distance(real_stats.mean(0), np.atleast_2d(np.cov(real_stats, rowvar=False)),
                            fake_stats.mean(0), np.atleast_2d(np.cov(fake_stats, rowvar=False)))


def compare(real, real_sensors, fake, fake_sensors, threshold: int = THRESHOLD_ADU) -> dict:
    """Every comparison above, plus the arrays the figures need."""
    real_hist, fake_hist = intensity_histogram(real, threshold), intensity_histogram(fake, threshold)
    real_occ = sensor_occupancy(real, real_sensors, threshold)
    fake_occ = sensor_occupancy(fake, fake_sensors, threshold)
    real_stats, fake_stats = image_statistics(real, threshold), image_statistics(fake, threshold)
    return {
        "intensity_w1_adu": intensity_distance(real_hist, fake_hist),
        "occupancy_rel_error": occupancy_error(real_occ, fake_occ),
        "statistics_frechet": statistics_frechet(real_stats, fake_stats),
        "real_mean_occupancy": float(np.nanmean(real_occ)),
        "fake_mean_occupancy": float(np.nanmean(fake_occ)),
        "hitmaps": int(len(real)),
        "histograms": (real_hist, fake_hist),
        "occupancies": (real_occ, fake_occ),
        "statistics": (real_stats, fake_stats),
    }
