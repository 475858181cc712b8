"""Log-likelihoods, cross-entropies and KL divergences that stay exact for confident models.

`-F.cross_entropy` computes log p_y = z_y − logsumexp(z); once 1 − p_y falls below float32's
resolution (about 6e-8) p_y rounds to 1, the loss to 0 and the gradient on the true logit to 0, while
the other logits keep their tiny, exact gradients. A trained classifier is that confident on a large
part of its training set, so a Fisher diagonal built on it silently drops the true-class direction of
those samples, and gradient ascent on them loses the push on the true logit. Written as
log p_y = −softplus(logsumexp_{j≠y} z_j − z_y), the same quantity keeps its value and every gradient
component to full relative precision in float32 (CPU and GPU alike: logsumexp and softplus only).

`log_likelihood` is the one function: the Fisher (`core.fisher`), the loss attack and every training
loss of every method go through it. `log_softmax` applies it to the one class whose probability can
round to 1 (the largest logit), so KL terms between softmaxes keep their gradients too. Each takes
`form="plain"` to give PyTorch's own float32 form instead, so the difference can be measured
(`--set METHOD.loss=plain`); the mathematics is the same, only the rounding differs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# "exact": the stable forms below (the default everywhere); "plain": PyTorch's cross_entropy/log_softmax.
LOSS_FORMS = ("exact", "plain")


def log_likelihood(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """log p(y | x) per row of `logits` (B×K, K ≥ 2), exact to float precision even when p_y ≈ 1."""
    true = logits.gather(1, y[:, None]).squeeze(1)
    others = torch.logsumexp(logits.scatter(1, y[:, None], float("-inf")), dim=1)
    return -F.softplus(others - true)


def nll(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-sample cross-entropy −log p(y | x), exact for tiny values (the loss attack ranks them)."""
    return -log_likelihood(logits, y)


def cross_entropy(logits: torch.Tensor, y: torch.Tensor, *, form: str = "exact", reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy of integer labels, as `F.cross_entropy(logits, y, reduction=...)` computes it but exact
    (`form="exact"`) where the model is confident; `form="plain"` is `F.cross_entropy` itself."""
    if form == "plain":
        return F.cross_entropy(logits, y, reduction=reduction)
    _check(form)
    losses = nll(logits, y)
    return {"mean": losses.mean, "sum": losses.sum, "none": lambda: losses}[reduction]()


def log_softmax(logits: torch.Tensor, *, form: str = "exact") -> torch.Tensor:
    """log softmax(logits) per row, with the largest logit's entry in the exact form.

    Only the most probable class can have p within float32's resolution of 1, so only its entry is
    replaced by `log_likelihood`; every other entry z_j − logsumexp(z) (≤ log ½) is already exact, and so
    are their gradients. With `form="plain"` this is `F.log_softmax`.
    """
    if form == "plain":
        return F.log_softmax(logits, dim=1)
    _check(form)
    top = logits.argmax(dim=1)
    plain = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    return plain.scatter(1, top[:, None], log_likelihood(logits, top)[:, None])


def kl_divergence(target_log_probs: torch.Tensor, input_log_probs: torch.Tensor, *,
                  reduction: str = "batchmean") -> torch.Tensor:
    """KL(target ‖ input) = Σ_j p_j (log p_j − log q_j) from log-probabilities of both sides (no log of a
    rounded probability). `reduction` as `F.kl_div`'s: "batchmean" (per row), "mean" (per element), "sum"."""
    if reduction == "mean":  # F.kl_div's "mean" (per element), without its deprecation warning
        return F.kl_div(input_log_probs, target_log_probs, reduction="sum", log_target=True) / input_log_probs.numel()
    return F.kl_div(input_log_probs, target_log_probs, reduction=reduction, log_target=True)


def _check(form: str) -> None:
    if form not in LOSS_FORMS:
        raise ValueError(f"loss form must be one of {', '.join(LOSS_FORMS)}; got {form!r}")
