"""Exact per-sample squared-gradient diagonals: the empirical Fisher (DeepClean Eq. 1) and LFSSD's sensitivity.

For each parameter w, I_D(w) = mean over (x, y) in D of (∂ℓ(x, y) / ∂w)², where ℓ is a per-sample
objective. The square is taken per sample, never of a batch's mean gradient. Batches are processed
whole (`engine.py`): forward hooks keep each layer's input, one backward pass gives the gradient of the
summed objective with respect to each layer's output (in eval mode, each sample's own), and a rule per
layer type forms the per-sample weight gradients from the two, as opacus and BackPACK do:

- `linear.py`: Linear, Σ_i (∇W_i)² = (g²)ᵀ(a²) without any per-sample tensor on 2-D inputs;
- `conv.py`: Conv2d with any groups (depthwise included);
- `norm.py`: BatchNorm (eval), LayerNorm, torchvision's LayerNorm2d, GroupNorm, in closed form;
- `attention.py`: nn.MultiheadAttention (in_proj_weight, out_proj);
- `direct.py`: parameters used directly in a forward (ViT's class_token and pos_embedding, ConvNeXt's
  layer_scale);
- `generic.py`: anything else, through torch.func (exact, batched, slower).

A new layer type is one `@register(LayerType)` rule (`registry.py`); the engine never names a layer.
Memory depends on the batch size, never on the number of samples or, past a bounded chunk, the model.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import TensorDataset

from ..likelihood import log_likelihood  # the Fisher's objective (Eq. 1), exact for confident models
from ..runtime import Progress, no_progress
from . import attention, conv, direct, linear, norm  # noqa: F401  (each registers its rules)
from .engine import Objective, squared_grad_mean
from .registry import register, register_op


def output_sq_norm(out: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
    """||f(x)||² per sample: Loss-Free SSD's label-free objective."""
    return out.pow(2).sum(dim=1)


def fisher_diagonal(model: nn.Module, data: TensorDataset, *, batch_size: int, max_samples: int | None = None,
                    seed: int = 0, device: torch.device | str | None = None, progress: Progress = no_progress,
                    phase: str = "fisher") -> dict[str, torch.Tensor]:
    """The empirical Fisher diagonal of DeepClean's Eq. 1: mean of (∂ log p(y|x,w) / ∂w)² over `data`."""
    return squared_grad_mean(model, data, log_likelihood, batch_size=batch_size, max_samples=max_samples,
                             seed=seed, device=device, progress=progress, phase=phase)


def output_norm_sensitivity(model: nn.Module, data: TensorDataset, *, batch_size: int,
                            max_samples: int | None = None, seed: int = 0, device: torch.device | str | None = None,
                            progress: Progress = no_progress, phase: str = "sensitivity") -> dict[str, torch.Tensor]:
    """Loss-Free SSD's importance: mean of (∂ ||f(x)||² / ∂w)² over `data`; labels are not used."""
    return squared_grad_mean(model, data, output_sq_norm, batch_size=batch_size, max_samples=max_samples,
                             seed=seed, device=device, progress=progress, phase=phase)


__all__ = ["Objective", "fisher_diagonal", "output_norm_sensitivity", "output_sq_norm", "register", "register_op",
           "squared_grad_mean"]
