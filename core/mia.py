"""Membership-inference attacks on the forget set.

- Entropy MIA, exactly as the SSD and UNSIR/bad-teacher reference code computes it
  (if-loops/selective-synaptic-dampening `src/metrics.py`, from vikram2000b/bad-teaching-unlearning):
  the feature is the entropy −Σ p·log p of each softmax row (terms with p = 0 count 0), computed in the
  probabilities' own precision; a logistic regression learns *all* of Dr as members and *all* of the test
  set as non-members, `class_weight="balanced"`, lbfgs; the score is the fraction of Df it calls "member".
  The reference fits `LogisticRegression(multi_class="multinomial")` (C = 1) on the two classes: one weight
  and bias per class, both weights penalised. Its optimum has w₀ = −w₁, b₀ = −b₁, and a binary fit of
  d = w₁ − w₀ (logit d·x + (b₁ − b₀)) with penalty ‖d‖²/(2C') equals it when C' = 2C: the penalty
  ½(‖w₀‖² + ‖w₁‖²) = ‖d‖²/4. Current scikit-learn has no `multi_class` and fits binary problems with the
  binomial loss, so we fit that with C = 2 (`tests/test_mia.py` checks it against a two-class softmax fit
  written out independently). The fit runs to a tight tolerance: the reference's own stopping point (lbfgs
  at tol 1e-4 from zero in its parametrisation) cannot be reproduced in another one, its optimum can.
- Loss attack (the NeurIPS 2023 unlearning challenge's view): ROC-AUC separating Df from test by
  per-sample loss; 0.5 means the forget set looks like data never seen.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

# The binary fit's C equivalent to the reference's two-class multinomial fit at its default C = 1.
REFERENCE_C = 2.0
# lbfgs to (near) the optimum: entropies are one bounded feature, so this costs milliseconds.
FIT_TOL = 1e-10
FIT_MAX_ITER = 10_000


def entropy(probs: np.ndarray) -> np.ndarray:
    """Shannon entropy (nats) of each row of softmax probabilities, −Σ p·log p with 0·log 0 = 0, in the
    probabilities' own dtype (float32 softmax outputs, as the reference's torch code)."""
    p = np.asarray(probs)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(np.where(p > 0, p, 1)), 0)
    return -terms.sum(axis=1)


@dataclass
class EntropyAttack:
    """An attacker that learned, from one model's softmax entropies, to tell its members from non-members."""

    clf: LogisticRegression

    @classmethod
    def fit(cls, member_probs: np.ndarray, non_member_probs: np.ndarray, seed: int = 0) -> "EntropyAttack":
        """Learn members (all of the retain set) against non-members (all of the unseen test data), balanced.
        `seed` is kept for callers; the fit has no randomness (no subsampling, as the reference)."""
        x = np.concatenate([entropy(member_probs), entropy(non_member_probs)])[:, None].astype(np.float64)
        y = np.concatenate([np.ones(len(member_probs)), np.zeros(len(non_member_probs))])
        clf = LogisticRegression(C=REFERENCE_C, class_weight="balanced", solver="lbfgs", tol=FIT_TOL,
                                 max_iter=FIT_MAX_ITER)
        return cls(clf.fit(x, y))

    def is_member(self, probs: np.ndarray) -> np.ndarray:
        """Whether the attacker calls each row (softmax probabilities) a member, as 0/1."""
        return self.clf.predict(entropy(probs)[:, None].astype(np.float64)) if len(probs) else np.zeros(0)

    def member_fraction(self, probs: np.ndarray) -> float:
        """Fraction of the rows the attacker calls "member"."""
        return float(self.is_member(probs).mean())


def entropy_mia(retain_probs: np.ndarray, test_probs: np.ndarray, forget_probs: np.ndarray, seed: int = 0) -> float:
    """Fraction of the forget set an entropy-based attacker (retain = members, test = non-members) calls "member"."""
    return EntropyAttack.fit(retain_probs, test_probs, seed).member_fraction(forget_probs)


def loss_auc(forget_losses: np.ndarray, test_losses: np.ndarray) -> float:
    """ROC-AUC of "lower loss means member", Df (positives) against test (negatives)."""
    y = np.concatenate([np.ones(len(forget_losses)), np.zeros(len(test_losses))])
    return float(roc_auc_score(y, -np.concatenate([forget_losses, test_losses])))
