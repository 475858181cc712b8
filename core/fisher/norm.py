"""Normalisation layers: y = γ·x̂ + β, so per sample ∇γ_i = Σ_positions g_i·x̂_i and ∇β_i = Σ_positions g_i.

x̂ is recomputed from the captured input with the layer's own statistics: BatchNorm's running ones (eval
mode), LayerNorm's and GroupNorm's per sample. A closed form: one pass over the activations, where
torch.func's vmap over the layer cost ~10× as much on ResNet-18 (issue 14).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.convnext import LayerNorm2d

from .registry import Call, Rule, chunks, register, sq_sum

# Activation elements the BatchNorm rule centres and multiplies at once, in one reused buffer (4 MiB of
# float32): no activation-sized tensor is allocated. Measured (batch 128, on the CPU bench where every fresh
# large block costs its page faults): 8 against 35 ms for 64 channels on 32×32 maps, 1.7 against 9 ms for
# 128 on 16×16, against forming x̂ for the whole batch.
NORM_CHUNK_ELEMENTS = 1 << 20


def _channels_first(g: torch.Tensor, xhat: torch.Tensor, names: list[str]) -> dict[str, torch.Tensor]:
    """Per-sample ∇γ, ∇β of an affine map on axis 1 (B×C×...)."""
    b, c = g.shape[:2]
    g3 = g.reshape(b, c, -1)
    out = {}
    if "weight" in names:
        out["weight"] = torch.einsum("bcs,bcs->bc", g3, xhat.reshape(b, c, -1))
    if "bias" in names:
        out["bias"] = g3.sum(2)
    return out


def _channels_last(g: torch.Tensor, xhat: torch.Tensor, shape: tuple[int, ...], names: list[str]) -> dict[str, torch.Tensor]:
    """Per-sample ∇γ, ∇β of an affine map on the trailing axes `shape` (B×...×shape)."""
    b = g.shape[0]
    g3 = g.reshape(b, -1, *shape)
    out = {}
    if "weight" in names:
        out["weight"] = (g3 * xhat.reshape(g3.shape)).sum(1)
    if "bias" in names:
        out["bias"] = g3.sum(1)
    return out


class _NormRule(Rule):
    """Per-sample gradients are tiny (B×C), so the whole batch is one chunk."""

    def sq_sum(self, m: nn.Module, call: Call, names: list[str]) -> dict[str, torch.Tensor]:
        return {n: sq_sum(v) for n, v in self.per_sample(m, call, names, 0, call.batch).items()}


@register(nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
class BatchNormRule(_NormRule):
    def unsupported(self, m: nn.modules.batchnorm._BatchNorm, args: tuple, kwargs: dict) -> str | None:
        if m.running_mean is None or m.running_var is None:
            raise ValueError(
                f"{type(m).__name__} without running statistics (track_running_stats=False) normalises with the "
                f"batch's own statistics even in eval mode, so samples are not independent and a per-sample "
                f"Fisher is not defined; train the model with track_running_stats=True")
        return None

    def per_sample(self, m, call: Call, names: list[str], lo: int, hi: int) -> dict[str, torch.Tensor]:
        a, g = call.input[lo:hi], call.grad[lo:hi]
        b, c = g.shape[:2]
        g3 = g.reshape(b, c, -1)
        out = {}
        if "weight" in names:
            out["weight"] = _centred_dot(a.reshape(b, c, -1), g3, m.running_mean.to(a.dtype)).mul_(
                torch.rsqrt(m.running_var.to(a.dtype) + m.eps))
        if "bias" in names:
            out["bias"] = g3.sum(2)
        return out


def _centred_dot(a: torch.Tensor, g: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
    """B×C: Σ_s (a[b,c,s] − mean[c]) · g[b,c,s] for B×C×S `a` and `g`, a few samples at a time.

    ∇γ_b = Σ_s g·x̂ = rsqrt(var + eps) · Σ_s g·(a − mean): the per-channel scale applied after the sum, the
    centring kept before it (Σ g·a − mean·Σ g would cancel where |mean| is large next to the spread)."""
    b, c, s = a.shape
    out = torch.empty(b, c, dtype=g.dtype, device=g.device)
    step = max(1, NORM_CHUNK_ELEMENTS // max(1, c * s))
    buffer = torch.empty(min(b, step), c, s, dtype=g.dtype, device=g.device)
    centre = mean.view(1, c, 1)
    for lo, hi in chunks(b, c * s, NORM_CHUNK_ELEMENTS):
        block = buffer[:hi - lo]
        torch.sub(a[lo:hi], centre, out=block)
        block.mul_(g[lo:hi])
        torch.sum(block, 2, out=out[lo:hi])
    return out


@register(nn.LayerNorm)
class LayerNormRule(_NormRule):
    def per_sample(self, m: nn.LayerNorm, call: Call, names: list[str], lo: int, hi: int) -> dict[str, torch.Tensor]:
        a, g = call.input[lo:hi], call.grad[lo:hi]
        xhat = F.layer_norm(a, m.normalized_shape, None, None, m.eps)
        return _channels_last(g, xhat, tuple(m.normalized_shape), names)


@register(LayerNorm2d)
class LayerNorm2dRule(_NormRule):
    """torchvision's LayerNorm2d (ConvNeXt): a LayerNorm over the channels of B×C×H×W."""

    def per_sample(self, m: LayerNorm2d, call: Call, names: list[str], lo: int, hi: int) -> dict[str, torch.Tensor]:
        a, g = call.input[lo:hi], call.grad[lo:hi]
        xhat = F.layer_norm(a.permute(0, 2, 3, 1), m.normalized_shape, None, None, m.eps).permute(0, 3, 1, 2)
        return _channels_first(g, xhat, names)


@register(nn.GroupNorm)
class GroupNormRule(_NormRule):
    def per_sample(self, m: nn.GroupNorm, call: Call, names: list[str], lo: int, hi: int) -> dict[str, torch.Tensor]:
        a, g = call.input[lo:hi], call.grad[lo:hi]
        return _channels_first(g, F.group_norm(a, m.num_groups, None, None, m.eps), names)
