"""Selective Synaptic Dampening (Foster, Schoepf, Brintrup, AAAI 2024).

Importance []_D is the diagonal Fisher on the whole training set D = Dr ∪ Df and []_Df on the forget set.
Weights with []_Df > α·[]_D are dampened: θ ← β·θ with β = min(λ·[]_D / []_Df, 1) (the paper's Eq. 3–4).
Defaults α = 10, λ = 1 are the reference code's (`selection_weighting`, `dampening_constant`).

Where we differ, and why: the reference code squares each batch's *mean* gradient; we use the exact
per-sample Fisher shared with DeepClean (one pass serves both). With per-sample means, []_D over
D = Dr ∪ Df is at least (|Df|/|D|)·[]_Df, so with a 10% forget set α = 10 selects almost nothing and
β never falls below |Df|/|D|. The reference importance is therefore []_Dr by default (`reference =
"retain"`); `reference = "train"` gives the paper's D, formed as the size-weighted mean of []_Dr and []_Df.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..config import Config, param
from .base import Method, UnlearnTask


@dataclass(frozen=True)
class SSDConfig(Config):
    """SSD's hyperparameters (the reference code's defaults)."""

    alpha: float = param(10.0, "selection α: dampen weights with []_Df > α·[]_D", low=0, low_open=True)
    reference: str = param("retain", "[]_D taken over 'retain' (Dr) or 'train' (Dr ∪ Df, the paper's; see the docstring)",
                           choices=("retain", "train"))
    dampening: float = param(1.0, "dampening λ: β = min(λ·[]_D/[]_Df, 1)", low=0, low_open=True)
    fisher_batch_size: int = param(128, "batch size of the importance passes (memory, not result)", low=1)
    retain_samples: int | None = param(None, "Dr samples the importance uses (empty: all of Dr)", low=1)
    seed: int = param(0, "seed for the Dr sample", low=0)


def train_importance(i_f: dict, i_r: dict, n_forget: int, n_retain: int) -> dict[str, torch.Tensor]:
    """[]_D over D = Dr ∪ Df from the two per-set means, weighted by their sample counts."""
    total = n_forget + n_retain
    return {n: (n_forget * i_f[n] + n_retain * i_r[n]) / total for n in i_f}


def dampen(model: nn.Module, i_f: dict, i_d: dict, alpha: float, dampening: float) -> dict[str, dict[str, int]]:
    """SSD's update in place: θ ← min(λ·[]_D/[]_Df, 1)·θ where []_Df > α·[]_D. Returns per-tensor counts."""
    counts = {}
    with torch.no_grad():
        for n, p in model.named_parameters():
            chosen = i_f[n] > alpha * i_d[n]  # []_Df > 0 wherever chosen, so the division is safe there
            beta = torch.clamp(dampening * i_d[n] / torch.where(chosen, i_f[n], torch.ones_like(i_f[n])), max=1.0)
            p.mul_(torch.where(chosen, beta, torch.ones_like(beta)))
            counts[n] = {"selected": int(chosen.sum()), "total": p.numel()}
    return counts


def importance_run(model: nn.Module, task: UnlearnTask, cfg, kind: str) -> tuple[nn.Module, dict]:
    """SSD (`kind="fisher"`) or Loss-Free SSD (`kind="sensitivity"`) on the task, sharing the importance cache."""
    common = dict(batch_size=cfg.fisher_batch_size, seed=cfg.seed, device=task.device, progress=task.progress)
    label = "Fisher" if kind == "fisher" else "sensitivity"
    i_f = task.importance.get(kind, model, task.forget, which="forget", max_samples=None,
                              phase=f"{label} on Df", **common)
    i_r = task.importance.get(kind, model, task.retain, which="retain", max_samples=cfg.retain_samples,
                              phase=f"{label} on Dr", **common)
    n_r = len(task.retain.tensors[0]) if cfg.retain_samples is None else min(cfg.retain_samples, len(task.retain.tensors[0]))
    i_d = i_r if cfg.reference == "retain" else train_importance(i_f, i_r, len(task.forget.tensors[0]), n_r)
    task.progress("dampening", 0.0, f"α = {cfg.alpha}, λ = {cfg.dampening}")
    counts = dampen(model, i_f, i_d, cfg.alpha, cfg.dampening)
    task.progress("dampening", 1.0, "")
    selected = sum(c["selected"] for c in counts.values())
    total = sum(c["total"] for c in counts.values())
    return model, {"weights_dampened": selected, "weights_total": total, "weights_reset_fraction": selected / total,
                   "per_layer": counts, "steps": 0}


def run(model: nn.Module, task: UnlearnTask, cfg: SSDConfig):
    return importance_run(model, task, cfg, "fisher")


METHOD = Method(
    name="ssd",
    run=run,
    config=SSDConfig,
    summary="dampen weights far more important to Df than to D (Fisher importance, no training)",
    citation="Foster et al., Selective Synaptic Dampening, AAAI 2024",
    needs_retain="yes (importance)",
    importance=("fisher",),
)
