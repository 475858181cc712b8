"""nn.Linear: ∇W_i = Σ_t g_it a_itᵀ over the sample's positions t (tokens, pixels; one position for 2-D input)."""

from __future__ import annotations

import torch
from torch import nn

from . import registry
from .registry import Call, Rule, chunks, gram_sq_sum, register, sq_sum


def flat3(t: torch.Tensor) -> torch.Tensor:
    """B×...×F as B×T×F (T = every position between the batch and the feature axis; 1 for 2-D input)."""
    return t.reshape(t.shape[0], -1, t.shape[-1])


def linear_sq_sum(a: torch.Tensor, g: torch.Tensor, bias: bool) -> dict[str, torch.Tensor]:
    """Σ_i (∇W_i)² and Σ_i (∇b_i)² of y = a Wᵀ + b, given the input `a` (B×...×I) and ∂L/∂y `g` (B×...×O)."""
    a3, g3 = flat3(a), flat3(g)
    b, t, o = g3.shape
    i = a3.shape[2]
    if registry.use_gram(t, o * i):  # few positions (t = 1: (g²)ᵀ(a²)): no per-sample tensor at all
        gt, at = g3.transpose(1, 2), a3.transpose(1, 2)
        weight = torch.zeros(o, i, dtype=g.dtype, device=g.device)
        for lo, hi in chunks(b, (o + i) * t * t):
            weight += gram_sq_sum(gt[lo:hi], at[lo:hi])
    else:
        weight = torch.zeros(o, i, dtype=g.dtype, device=g.device)
        for lo, hi in chunks(b, o * i):
            weight += sq_sum(torch.bmm(g3[lo:hi].transpose(1, 2), a3[lo:hi]))  # (hi-lo)×O×I, a matmul per sample
    out = {"weight": weight}
    if bias:
        out["bias"] = sq_sum(g3.sum(1))
    return out


def linear_per_sample(a: torch.Tensor, g: torch.Tensor, bias: bool, lo: int, hi: int) -> dict[str, torch.Tensor]:
    a3, g3 = flat3(a[lo:hi]), flat3(g[lo:hi])
    out = {"weight": torch.bmm(g3.transpose(1, 2), a3)}
    if bias:
        out["bias"] = g3.sum(1)
    return out


@register(nn.Linear)
class LinearRule(Rule):
    def sq_sum(self, m: nn.Linear, call: Call, names: list[str]) -> dict[str, torch.Tensor]:
        out = linear_sq_sum(call.input, call.grad, "bias" in names)
        return {n: out[n] for n in names}

    def per_sample(self, m: nn.Linear, call: Call, names: list[str], lo: int, hi: int) -> dict[str, torch.Tensor]:
        out = linear_per_sample(call.input, call.grad, "bias" in names, lo, hi)
        return {n: out[n] for n in names}
