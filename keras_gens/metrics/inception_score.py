"""Inception Score (Salimans et al., 2016).

IS = exp(E_x KL(p(y|x) ‖ p(y))), where p(y|x) is the classifier's softmax for
one generated image and p(y) its mean over the images.  As in the original code
(openai/improved-gan), the images are cut into ``splits`` consecutive parts (10),
the score is computed within each, and the mean and the population standard
deviation over the parts are reported; the logits are the 2015-12-05
Inception's 1008-way layer without its bias, which is what that code and
torch-fidelity's ``logits_unbiased`` compute.  High is better; its ceiling is
the number of classes.  It never looks at real images, so on digits (which
ImageNet's classes do not describe) it says little; use it to compare with
papers that report it.
"""
from __future__ import annotations

import numpy as np


def log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def inception_score(logits, splits: int = 10) -> tuple[float, float]:
    """``(mean, std)`` of the Inception Score over ``splits`` consecutive parts of ``logits`` [N, classes]."""
    logits = np.asarray(logits, np.float64)
    if logits.ndim != 2:
        raise ValueError(f"logits must be [N, classes]; got shape {logits.shape}")
    if not 1 <= splits <= len(logits):
        raise ValueError(f"{splits} splits need at least {splits} images; got {len(logits)}")
    log_p = log_softmax(logits)
    scores = []
    n = len(log_p)
    for i in range(splits):
        part = log_p[i * n // splits:(i + 1) * n // splits]  # the original code's parts
        log_marginal = np.log(np.exp(part).mean(axis=0))
        kl = (np.exp(part) * (part - log_marginal)).sum(axis=1).mean()
        scores.append(np.exp(kl))
    return float(np.mean(scores)), float(np.std(scores))
