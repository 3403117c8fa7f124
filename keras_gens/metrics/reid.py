"""Re-identification accuracy: mAP and CMC under the Market-1501 protocol.

For each query the gallery is ranked by Euclidean distance; gallery pictures of the
query's identity taken by the query's camera are removed (they would be trivial
matches), junk pictures (identity −1) are not in the gallery at all (the loaders
drop them), distractors (identity 0) stay as negatives, and queries left without
any valid match are skipped.

    CMC(k) = share of valid queries whose first correct match is within the top k
    AP     = (1/R) Σ_k match_k · precision@k      (non-interpolated, as torchreid and
                                                   fast-reid; the original MATLAB code's
                                                   trapezoid rule gives about 1 point less)

Exact ties in distance are ranked in gallery order (a stable sort: the earlier gallery item first).
torchreid ranks with numpy's default sort, which orders ties arbitrarily, so where ties occur (e.g.
distances rounded to 0.5) the two can differ (mAP 0.693 against 0.704 in one such check); on
float distances of real templates exact ties are rare and the scores agree.

Distances are computed for ``chunk`` queries at a time, so a Market-sized ranking
(3,368 × 15,913) needs a few tens of MB, not the 0.6 GB of the full matrix and its order.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_RANKS = (1, 5, 10)


@dataclass
class ReIDScores:
    mAP: float
    cmc: np.ndarray          # cmc[k − 1] = CMC rank-k, up to max_rank
    valid_queries: int
    skipped_queries: int

    def rank(self, k: int) -> float:
        return float(self.cmc[min(k, len(self.cmc)) - 1])

    def as_dict(self, ranks=DEFAULT_RANKS) -> dict:
        return {"mAP": float(self.mAP), **{f"rank{k}": self.rank(k) for k in ranks},
                "valid_queries": int(self.valid_queries), "skipped_queries": int(self.skipped_queries)}


class _Accumulator:
    def __init__(self, max_rank: int):
        self.max_rank = int(max_rank)
        self.ap_sum, self.cmc_sum, self.valid, self.skipped = 0.0, np.zeros(self.max_rank), 0, 0

    def add(self, distances, q_pids, q_cams, g_pids, g_cams):
        """One chunk: ``distances`` [q, G] of ``q`` queries to the whole gallery."""
        order = np.argsort(distances, axis=1, kind="stable")
        ranked_pids, ranked_cams = g_pids[order], g_cams[order]
        same_person = ranked_pids == q_pids[:, None]
        valid = ~(same_person & (ranked_cams == q_cams[:, None]))
        hits = same_person & valid
        relevant = hits.sum(axis=1)
        keep = relevant > 0
        self.skipped += int((~keep).sum())
        if not keep.any():
            return
        hits, valid, relevant = hits[keep], valid[keep], relevant[keep]
        position = np.cumsum(valid, axis=1)            # 1-based rank of each valid gallery item
        found = np.cumsum(hits, axis=1)                # correct matches up to there
        precision = found / np.maximum(position, 1)
        self.ap_sum += float((np.where(hits, precision, 0.0).sum(axis=1) / relevant).sum())
        first = np.where(hits, position, np.iinfo(np.int64).max).min(axis=1)
        self.cmc_sum += (first[:, None] <= np.arange(1, self.max_rank + 1)[None]).sum(axis=0)
        self.valid += int(keep.sum())

    def result(self) -> ReIDScores:
        if not self.valid:
            raise ValueError("no query has a valid match in the gallery (same identity, another camera)")
        return ReIDScores(self.ap_sum / self.valid, self.cmc_sum / self.valid, self.valid, self.skipped)


def evaluate_distances(distances, q_pids, g_pids, q_cams, g_cams, max_rank: int = 50) -> ReIDScores:
    """mAP and CMC of a full distance matrix [Q, G]."""
    acc = _Accumulator(max_rank)
    acc.add(np.asarray(distances), *(np.asarray(a) for a in (q_pids, q_cams, g_pids, g_cams)))
    return acc.result()


def euclidean_distances(queries: np.ndarray, gallery: np.ndarray, gallery_sq=None) -> np.ndarray:
    queries, gallery = np.asarray(queries, np.float32), np.asarray(gallery, np.float32)
    if gallery_sq is None:
        gallery_sq = np.einsum("ij,ij->i", gallery, gallery)
    squared = np.einsum("ij,ij->i", queries, queries)[:, None] + gallery_sq[None] - 2.0 * queries @ gallery.T
    return np.sqrt(np.maximum(squared, 0.0))


def evaluate_features(q_features, g_features, q_pids, g_pids, q_cams, g_cams, *, chunk: int = 256,
                      max_rank: int = 50) -> ReIDScores:
    """mAP and CMC from templates, ranking ``chunk`` queries at a time."""
    g_features = np.asarray(g_features, np.float32)
    g_pids, g_cams, q_pids, q_cams = (np.asarray(a) for a in (g_pids, g_cams, q_pids, q_cams))
    gallery_sq = np.einsum("ij,ij->i", g_features, g_features)
    acc = _Accumulator(min(max_rank, len(g_features)))
    for start in range(0, len(q_features), chunk):
        part = slice(start, start + chunk)
        acc.add(euclidean_distances(q_features[part], g_features, gallery_sq), q_pids[part], q_cams[part],
                g_pids, g_cams)
    return acc.result()
