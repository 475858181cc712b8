"""Membership-inference attacks on the forget set.

- Entropy MIA, as in the SSD and UNSIR reference code: the feature is the entropy of the softmax; a
  logistic regression learns retain samples as members and test samples as non-members (balanced);
  the score is the fraction of Df predicted "member".
- Loss attack (the NeurIPS 2023 unlearning challenge's view): ROC-AUC separating Df from test by
  per-sample loss; 0.5 means the forget set looks like data never seen.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score


def entropy(probs: np.ndarray) -> np.ndarray:
    """Shannon entropy (nats) of each row of softmax probabilities."""
    p = np.clip(probs, 1e-12, 1.0)
    return -(p * np.log(p)).sum(axis=1)


def entropy_mia(retain_probs: np.ndarray, test_probs: np.ndarray, forget_probs: np.ndarray, seed: int = 0) -> float:
    """Fraction of the forget set an entropy-based attacker calls "member"."""
    rng = np.random.default_rng(seed)
    n = min(len(retain_probs), len(test_probs))
    members = retain_probs[rng.choice(len(retain_probs), n, replace=False)]
    non_members = test_probs[rng.choice(len(test_probs), n, replace=False)]
    x = np.concatenate([entropy(members), entropy(non_members)])[:, None]
    y = np.concatenate([np.ones(n), np.zeros(n)])
    clf = LogisticRegression(class_weight="balanced", solver="lbfgs").fit(x, y)
    return float(clf.predict(entropy(forget_probs)[:, None]).mean())


def loss_auc(forget_losses: np.ndarray, test_losses: np.ndarray) -> float:
    """ROC-AUC of "lower loss means member", Df (positives) against test (negatives)."""
    y = np.concatenate([np.ones(len(forget_losses)), np.zeros(len(test_losses))])
    return float(roc_auc_score(y, -np.concatenate([forget_losses, test_losses])))
