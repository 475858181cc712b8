"""Bootstrap intervals: they cover the estimate, are reproducible under a seed, shrink with the sample count,
and the rank AUC equals scikit-learn's."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from core.stats import Interval, auc_interval, difference, mean_interval, paired_difference, samples_to_settle


def width(iv: Interval) -> float:
    return iv.high - iv.low


def test_intervals_cover_the_estimate_repeat_under_a_seed_and_shrink_with_samples():
    rng = np.random.default_rng(0)
    small, large = ((rng.random(n) < 0.3).astype(float) for n in (50, 5000))
    a, b = mean_interval(small, seed=3), mean_interval(small, seed=3)
    assert a == b and a.low <= a.value <= a.high and a.n == 50
    assert width(mean_interval(large)) < width(mean_interval(small)) / 5  # ~1/√n: 10× here
    assert width(difference(small, small)) > 0 and width(paired_difference(small, small)) == 0


def test_rank_auc_matches_scikit_learn_with_ties():
    rng = np.random.default_rng(1)
    pos, neg = rng.normal(0.4, 1, 40).round(1), rng.normal(0, 1, 60).round(1)
    iv = auc_interval(pos, neg)
    assert iv.value == pytest.approx(roc_auc_score(np.r_[np.ones(40), np.zeros(60)], np.r_[pos, neg]))
    assert iv.low < iv.value < iv.high


def test_samples_to_settle_follows_the_square_law():
    iv = Interval(0.03, 0.0, 0.06, 100)  # half-width 0.03, 0.02 from the 0.05 bar
    assert samples_to_settle(iv, -0.05, 0.05) == 225  # 100 × (0.03 / 0.02)²
    assert samples_to_settle(Interval(0.01, 0.0, 0.02, 100), -0.05, 0.05) is None  # not straddling
