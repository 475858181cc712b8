"""Per-sample log-likelihood log p(y | x) that stays exact for confident models.

`-F.cross_entropy` computes log p_y = z_y − logsumexp(z); once 1 − p_y falls below float32's
resolution (about 6e-8) p_y rounds to 1, the loss to 0 and the gradient on the true logit to 0, while
the other logits keep their tiny, exact gradients. A trained classifier is that confident on a large
part of its training set, so a Fisher diagonal built on it silently drops the true-class direction of
those samples. Written as log p_y = −softplus(logsumexp_{j≠y} z_j − z_y), the same quantity keeps its
value and every gradient component to full relative precision in float32.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def log_likelihood(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """log p(y | x) per row of `logits` (B×K, K ≥ 2), exact to float precision even when p_y ≈ 1."""
    true = logits.gather(1, y[:, None]).squeeze(1)
    others = torch.logsumexp(logits.scatter(1, y[:, None], float("-inf")), dim=1)
    return -F.softplus(others - true)


def nll(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-sample cross-entropy −log p(y | x), exact for tiny values (the loss attack ranks them)."""
    return -log_likelihood(logits, y)
