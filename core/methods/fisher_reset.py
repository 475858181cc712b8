"""DeepClean's mechanics: the Fisher ratio, the selection at a threshold γ, the reset and the masked fine-tuning.

Shared by DeepClean, its zero-weights ablation and automatic γ (`gamma_search.py`). Seed paper: "DeepClean:
Machine Unlearning on the Cheap by Resetting Privacy Sensitive Weights using the Fisher Diagonal". Eq. 1
(empirical Fisher diagonal), Eq. 2 (ratio r = I_Df / I_Dr), W_f = {w : r(w) > γ}; fine-tuning with Adam, lr
1e-3, cosine annealing, cross-entropy, no augmentation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from ..config import Config, param
from .base import UnlearnTask
from .training import adam_cosine

# The paper's thresholds: 2.0 when forgetting classes, 1.1 when forgetting random samples.
GAMMA_CLASSES = 2.0
GAMMA_SAMPLES = 1.1
# The γ-curve's values on the command line (the paper's Fig. 3 spans these).
GAMMA_GRID = (0.5, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0, 3.0, 5.0, 10.0, 100.0)
# The slider's range on the Unlearn page, and the values a sweep tries unless told otherwise.
GAMMA_RANGE = (0.5, 10.0)
GAMMA_SWEEP = (1.1, 1.5, 2.0, 2.5, 3.0)


@dataclass(frozen=True)
class DeepCleanConfig(Config):
    """DeepClean's hyperparameters (the paper's defaults)."""

    gamma: float | str | None = param(None, "threshold γ on I_Df/I_Dr (empty: 2.0 for classes, 1.1 for samples; "
                                            "'auto': the fewest weights that pass the gold-free audit)",
                                      low=0, low_open=True, words=("auto",))
    epochs: int | None = param(None, "fine-tuning epochs on Dr (empty: the dataset's, 1 MNIST, 3 CIFAR)", low=0)
    lr: float = param(1e-3, "Adam learning rate of the fine-tuning (cosine-annealed)", low=0, low_open=True)
    batch_size: int = param(64, "fine-tuning mini-batch size", low=1)
    fisher_batch_size: int = param(128, "batch size of the Fisher passes (memory, not result)", low=1)
    retain_samples: int | None = param(None, "Dr samples the retain Fisher uses (empty: all of Dr)", low=1)
    seed: int = param(0, "seed for the retain sample and the fine-tuning order", low=0)


def fisher_ratio(i_forget: torch.Tensor, i_retain: torch.Tensor) -> torch.Tensor:
    """r = I_Df / I_Dr (Eq. 2) with zero denominators handled explicitly.

    Where I_Dr = 0 and I_Df > 0 the weight matters to the forget set alone: r = +inf (always selected).
    Where both are 0 the weight matters to neither: r = 0 (never selected).
    """
    safe = torch.where(i_retain > 0, i_retain, torch.ones_like(i_retain))
    ratio = i_forget / safe
    only_forget = torch.where(i_forget > 0, torch.full_like(ratio, math.inf), torch.zeros_like(ratio))
    return torch.where(i_retain > 0, ratio, only_forget)


def importances(model: nn.Module, task: UnlearnTask, cfg: DeepCleanConfig):
    """I_Df and I_Dr of the original model, from the task's shared cache."""
    common = dict(batch_size=cfg.fisher_batch_size, seed=cfg.seed, device=task.device, progress=task.progress)
    i_f = task.importance.get("fisher", model, task.forget, which="forget", max_samples=None,
                              phase="Fisher on Df", **common)
    i_r = task.importance.get("fisher", model, task.retain, which="retain", max_samples=cfg.retain_samples,
                              phase="Fisher on Dr", **common)
    return i_f, i_r


def default_gamma(forget_kind: str) -> float:
    return GAMMA_CLASSES if forget_kind == "classes" else GAMMA_SAMPLES


def selection(i_f: dict, i_r: dict, gamma: float) -> dict[str, torch.Tensor]:
    """W_f per parameter tensor: r(w) > γ."""
    return {n: fisher_ratio(i_f[n], i_r[n]) > gamma for n in i_f}


def layer_counts(masks: dict[str, torch.Tensor]) -> dict[str, dict[str, int]]:
    """Selected and total weights per parameter tensor."""
    return {n: {"selected": int(m.sum()), "total": m.numel()} for n, m in masks.items()}


def gamma_curve(i_f: dict, i_r: dict, gammas: Sequence[float] = GAMMA_GRID) -> list[dict]:
    """For each γ: weights selected in total and per parameter tensor (the paper's Fig. 3)."""
    ratios = {n: fisher_ratio(i_f[n], i_r[n]) for n in i_f}
    total = sum(r.numel() for r in ratios.values())
    rows = []
    for g in gammas:
        per = {n: int((r > g).sum()) for n, r in ratios.items()}
        rows.append({"gamma": float(g), "selected": sum(per.values()), "total": total,
                     "fraction": sum(per.values()) / total, "per_layer": per})
    return rows


def reset(model: nn.Module, masks: dict[str, torch.Tensor]) -> None:
    """Step 2: set the selected weights to 0, in place."""
    named = dict(model.named_parameters())
    with torch.no_grad():
        for n, m in masks.items():
            named[n].masked_fill_(m, 0.0)


def finetune_selected(model: nn.Module, task: UnlearnTask, cfg: DeepCleanConfig, masks: dict[str, torch.Tensor],
                      epochs: int, phase: str = "fine-tuning") -> list[float]:
    """Step 3: fine-tune only the selected weights on Dr (Adam, cosine); returns the epoch losses."""
    return adam_cosine(model, task.retain, epochs=epochs, lr=cfg.lr, batch_size=cfg.batch_size, seed=cfg.seed,
                       device=task.device, progress=task.progress, phase=phase, masks=masks)


def finetune_epochs(task: UnlearnTask, cfg: DeepCleanConfig) -> int:
    return cfg.epochs if cfg.epochs is not None else task.recipe.finetune_epochs


def selection_info(gamma: float, masks: dict[str, torch.Tensor]) -> dict:
    counts = layer_counts(masks)
    selected = sum(c["selected"] for c in counts.values())
    total = sum(c["total"] for c in counts.values())
    return {"gamma": gamma, "weights_reset": selected, "weights_total": total,
            "weights_reset_fraction": selected / total, "per_layer": counts}
