"""The Fréchet distance between two Gaussians, and the streaming moments that feed it.

    d² = ‖μ1 − μ2‖² + Tr(Σ1 + Σ2 − 2 (Σ1 Σ2)^½)

computed in float64 with pytorch-fid's square-root fallback: a non-finite
``sqrtm`` is retried with 1e-6·I added to both covariances, and a complex
result is accepted (real part) only if its diagonal's imaginary part is within
1e-3.  FID is this distance on Inception features; PE-GAN's physics
validation uses it on Gaussian fits of physics quantities.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from scipy import linalg

from keras_gens.errors import UserError
from keras_gens.utils.io import atomic_write_bytes


class FrechetDistanceError(ValueError):
    """The matrix square root came out complex beyond the tolerance: the statistics are unusable."""


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (mu1.size, mu1.size):
        raise ValueError(f"statistics do not match: mean {mu1.shape} vs {mu2.shape}, "
                         f"covariance {sigma1.shape} vs {sigma2.shape}")
    diff = mu1 - mu2
    with np.errstate(divide="ignore", invalid="ignore"):  # scipy's error estimate divides by ‖Σ1Σ2‖, 0 when singular
        covmean, _ = linalg.sqrtm(sigma1.dot(sigma2), disp=False)
    if not np.isfinite(covmean).all():
        warnings.warn(f"the product of covariances is singular; adding {eps}·I to both and retrying",
                      RuntimeWarning, stacklevel=2)
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        worst = np.max(np.abs(np.diagonal(covmean).imag))
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise FrechetDistanceError(f"the covariance square root has an imaginary component {worst:.3g}")
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))


class FeatureMoments:
    """Running mean and (unbiased) covariance of feature vectors, in float64.

    Batches are merged with Chan et al.'s pairwise update, so any number of
    features can be summarised in O(d²) memory and the result equals
    ``np.cov`` of the stacked features.
    """

    def __init__(self, dim: int):
        self.dim = int(dim)
        self.count = 0
        self._mean = np.zeros(self.dim)
        self._scatter = np.zeros((self.dim, self.dim))  # Σ (x − mean)(x − mean)ᵀ

    def update(self, features) -> "FeatureMoments":
        x = np.asarray(features, np.float64).reshape(-1, self.dim)
        n = len(x)
        if n == 0:
            return self
        batch_mean = x.mean(axis=0)
        centred = x - batch_mean
        batch_scatter = centred.T @ centred
        total = self.count + n
        delta = batch_mean - self._mean
        self._scatter += batch_scatter + np.outer(delta, delta) * (self.count * n / total)
        self._mean += delta * (n / total)
        self.count = total
        return self

    @property
    def mean(self) -> np.ndarray:
        return self._mean.copy()

    @property
    def cov(self) -> np.ndarray:
        if self.count < 2:
            raise ValueError(f"a covariance needs at least 2 samples, got {self.count}")
        return self._scatter / (self.count - 1)

    def distance_to(self, other: "FeatureMoments") -> float:
        return frechet_distance(self.mean, self.cov, other.mean, other.cov)

    # --- persistence: a moment file holds mu, sigma and n, like pytorch-fid's .npz ---

    def save(self, path, **meta):
        import io

        buf = io.BytesIO()
        np.savez(buf, mu=self.mean, sigma=self.cov, n=np.int64(self.count),
                 **{k: np.asarray(v) for k, v in meta.items()})
        atomic_write_bytes(path, buf.getvalue())

    @classmethod
    def from_stats(cls, mu, sigma, count) -> "FeatureMoments":
        mu = np.asarray(mu, np.float64)
        self = cls(mu.size)
        self._mean, self.count = mu.copy(), int(count)
        self._scatter = np.asarray(sigma, np.float64) * (self.count - 1)
        return self

    @classmethod
    def load(cls, path) -> "FeatureMoments":
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as f:
                mu, sigma = f["mu"], f["sigma"]
                count = int(f["n"]) if "n" in f.files else 2
        except (OSError, KeyError, ValueError) as exc:
            raise UserError(f"{path} is not a statistics file with 'mu' and 'sigma' ({exc})") from None
        return cls.from_stats(mu, sigma, count)
