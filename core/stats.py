"""Seeded bootstrap intervals for the verdict's and the audit's figures, and how many samples would settle one.

Every figure the product judges is a mean of per-sample values (correct or not, called member or not) or a
rank statistic (an attack's ROC-AUC). Resampling the samples with replacement gives each figure a 95%
interval; a check whose interval straddles its tolerance is inconclusive, not a pass or a miss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import rankdata

# Resamples per interval: enough for stable 2.5% / 97.5% quantiles of a mean, cheap for a few hundred samples.
BOOTSTRAP_RESAMPLES = 1000
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Interval:
    """A figure and its 95% bootstrap interval, with the number of samples it rests on."""

    value: float
    low: float
    high: float
    n: int

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "ci_low": self.low, "ci_high": self.high, "n": self.n}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Interval":
        return cls(d["value"], d["ci_low"], d["ci_high"], d.get("n", 0))

    @classmethod
    def exact(cls, value: float) -> "Interval":
        """A figure without sampling noise (a time ratio)."""
        return cls(value, value, value, 0)


def _quantiles(draws: np.ndarray) -> tuple[float, float]:
    tail = (1 - CONFIDENCE) / 2
    return float(np.quantile(draws, tail)), float(np.quantile(draws, 1 - tail))


def mean_interval(x: np.ndarray, seed: int = 0, resamples: int = BOOTSTRAP_RESAMPLES) -> Interval:
    """The mean of per-sample values (e.g. 1 = correct) with its bootstrap interval."""
    x = np.asarray(x, dtype=float)
    if len(x) == 0:
        return Interval(float("nan"), float("nan"), float("nan"), 0)
    idx = np.random.default_rng(seed).integers(0, len(x), (resamples, len(x)))
    return Interval(float(x.mean()), *_quantiles(x[idx].mean(axis=1)), len(x))


def paired_difference(a: np.ndarray, b: np.ndarray, seed: int = 0, resamples: int = BOOTSTRAP_RESAMPLES) -> Interval:
    """mean(a) − mean(b) over the same samples (two models on one set), resampling the samples together."""
    return mean_interval(np.asarray(a, dtype=float) - np.asarray(b, dtype=float), seed, resamples)


def difference(a: np.ndarray, b: np.ndarray, seed: int = 0, resamples: int = BOOTSTRAP_RESAMPLES) -> Interval:
    """mean(a) − mean(b) over two independent sets of samples (Df against held-out data), each resampled."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(a) == 0 or len(b) == 0:
        return Interval(float("nan"), float("nan"), float("nan"), 0)
    rng = np.random.default_rng(seed)
    draws = a[rng.integers(0, len(a), (resamples, len(a)))].mean(1) - b[rng.integers(0, len(b), (resamples, len(b)))].mean(1)
    return Interval(float(a.mean() - b.mean()), *_quantiles(draws), min(len(a), len(b)))


def _auc_rows(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """ROC-AUC of each row (the Mann–Whitney U over the pooled ranks, ties counted half)."""
    ranks = rankdata(np.concatenate([pos, neg], axis=1), axis=1)
    n1, n2 = pos.shape[1], neg.shape[1]
    return (ranks[:, :n1].sum(axis=1) - n1 * (n1 + 1) / 2) / (n1 * n2)


def auc_interval(positive: np.ndarray, negative: np.ndarray, seed: int = 0,
                 resamples: int = BOOTSTRAP_RESAMPLES) -> Interval:
    """ROC-AUC of scores (higher = more likely positive), positives against negatives, each set resampled."""
    pos, neg = np.asarray(positive, dtype=float), np.asarray(negative, dtype=float)
    if len(pos) == 0 or len(neg) == 0:
        return Interval(float("nan"), float("nan"), float("nan"), 0)
    rng = np.random.default_rng(seed)
    value = float(_auc_rows(pos[None], neg[None])[0])
    draws = _auc_rows(pos[rng.integers(0, len(pos), (resamples, len(pos)))],
                      neg[rng.integers(0, len(neg), (resamples, len(neg)))])
    return Interval(value, *_quantiles(draws), min(len(pos), len(neg)))


def samples_to_settle(iv: Interval, lo: float | None, hi: float | None) -> int | None:
    """About how many samples would shrink the interval (as 1/√n) until it no longer straddles the bounds
    [lo, hi] (either may be open), at the same point estimate; None when it does not straddle or cannot settle."""
    half = (iv.high - iv.low) / 2
    edges = [e for e in (lo, hi) if e is not None and iv.low < e < iv.high]
    if not edges or iv.n == 0 or half <= 0:
        return None
    distance = min(abs(iv.value - e) for e in edges)
    if distance <= 0:
        return None  # the estimate sits on the bar: no sample count decides it
    return int(math.ceil(iv.n * (half / distance) ** 2))


# Past this many times the samples at hand, "about N would settle it" says nothing useful: the estimate is
# practically on the bar.
SETTLE_MAX_FACTOR = 100
