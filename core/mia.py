"""Membership-inference attacks on the forget set.

- Entropy MIA, as in the SSD and UNSIR reference code: the feature is the entropy of the softmax; a
  logistic regression learns retain samples as members and test samples as non-members (balanced);
  the score is the fraction of Df predicted "member".
- Loss attack (the NeurIPS 2023 unlearning challenge's view): ROC-AUC separating Df from test by
  per-sample loss; 0.5 means the forget set looks like data never seen.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score


def entropy(probs: np.ndarray) -> np.ndarray:
    """Shannon entropy (nats) of each row of softmax probabilities."""
    p = np.clip(probs, 1e-12, 1.0)
    return -(p * np.log(p)).sum(axis=1)


@dataclass
class EntropyAttack:
    """An attacker that learned, from one model's softmax entropies, to tell its members from non-members."""

    clf: LogisticRegression

    @classmethod
    def fit(cls, member_probs: np.ndarray, non_member_probs: np.ndarray, seed: int = 0) -> "EntropyAttack":
        """Learn members (the retain set) against non-members (unseen test data), balanced."""
        rng = np.random.default_rng(seed)
        n = min(len(member_probs), len(non_member_probs))
        members = member_probs[rng.choice(len(member_probs), n, replace=False)]
        non_members = non_member_probs[rng.choice(len(non_member_probs), n, replace=False)]
        x = np.concatenate([entropy(members), entropy(non_members)])[:, None]
        y = np.concatenate([np.ones(n), np.zeros(n)])
        return cls(LogisticRegression(class_weight="balanced", solver="lbfgs").fit(x, y))

    def is_member(self, probs: np.ndarray) -> np.ndarray:
        """Whether the attacker calls each row (softmax probabilities) a member, as 0/1."""
        return self.clf.predict(entropy(probs)[:, None]) if len(probs) else np.zeros(0)

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
