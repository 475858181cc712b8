"""The per-image attack view: for each forgotten image, how sure the membership attacker is that it was trained
on, before (original model) and after (unlearned model). Each model gets its own attacker, trained as the
product's MIA trains it (core/mia.py: members from Dr, non-members from unseen test images)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from torch import nn
from torch.utils.data import TensorDataset

from .evaluate import outputs
from .mia import EntropyAttack, entropy


def member_scores(model: nn.Module, retain: TensorDataset, test: TensorDataset, forget: TensorDataset) -> np.ndarray:
    """The attacker's probability that each forgotten image was a training member."""
    attack = EntropyAttack.fit(outputs(model, retain).probs, outputs(model, test).probs)
    probs = outputs(model, forget).probs
    return attack.clf.predict_proba(entropy(probs)[:, None].astype(np.float64))[:, 1]


def attack_frame(models: dict[str, nn.Module], retain: TensorDataset, test: TensorDataset, forget: TensorDataset,
                 forget_indices: np.ndarray) -> pd.DataFrame:
    """One row per forgotten image: its training index and the attacker's confidence before and after (and
    against gold where there is one), sorted by the confidence after, most exposed first."""
    frame = pd.DataFrame({"index": np.asarray(forget_indices)})
    for role in ("original", "unlearned", "gold"):
        if role in models:
            frame[role] = member_scores(models[role], retain, test, forget)
    return frame.sort_values("unlearned", ascending=False, kind="stable").reset_index(drop=True)
