"""SalUn (Fan et al., "SalUn: Empowering Machine Unlearning via Gradient-based Weight Saliency", ICLR 2024).

Weight saliency is |∇θ ℓ_CE(Df)|, the gradient of the forget loss; the most salient fraction of weights
(globally; the paper's default keeps 50%) forms the mask. Then random-label training on Df ∪ Dr updates
only the masked weights; the rest stay bit-for-bit unchanged. DeepClean's optimiser and epochs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..config import Config, param
from ..runtime import iter_batches
from .base import Method, UnlearnTask
from .training import adam_cosine
from .random_label import relabelled_data


@dataclass(frozen=True)
class SalUnConfig(Config):
    """SalUn's hyperparameters (the paper's 50% saliency sparsity)."""

    saliency_fraction: float = param(0.5, "fraction of weights (most salient to Df) that may change", low=0, high=1,
                                     low_open=True)
    epochs: int | None = param(None, "epochs (empty: the dataset's fine-tuning epochs)", low=0)
    lr: float = param(1e-3, "Adam learning rate (cosine-annealed)", low=0, low_open=True)
    batch_size: int = param(64, "mini-batch size", low=1)
    seed: int = param(0, "seed for the random labels and shuffling", low=0)


def saliency(model: nn.Module, task: UnlearnTask, batch_size: int) -> dict[str, torch.Tensor]:
    """|∇θ of the mean cross-entropy over Df| per weight."""
    model.eval()
    model.zero_grad(set_to_none=True)
    n = len(task.forget.tensors[0])
    for x, y in iter_batches(task.forget, batch_size):
        x, y = x.to(task.device), y.to(task.device)
        (F.cross_entropy(model(x), y, reduction="sum") / n).backward()
    grads = {k: p.grad.detach().abs() for k, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    return grads


def top_fraction_masks(scores: dict[str, torch.Tensor], fraction: float) -> dict[str, torch.Tensor]:
    """Masks of the globally highest-scoring `fraction` of entries."""
    flat = torch.cat([s.flatten() for s in scores.values()])
    k = max(1, int(round(fraction * flat.numel())))
    chosen = torch.zeros(flat.numel(), dtype=torch.bool, device=flat.device)
    chosen[torch.topk(flat, k, sorted=False).indices] = True  # exactly k entries, even among ties at 0
    return {n: m.view_as(s) for (n, s), m in zip(scores.items(), chosen.split([s.numel() for s in scores.values()]))}


def run(model: nn.Module, task: UnlearnTask, cfg: SalUnConfig):
    epochs = cfg.epochs if cfg.epochs is not None else task.recipe.finetune_epochs
    task.progress("saliency", 0.0, "")
    masks = top_fraction_masks(saliency(model, task, cfg.batch_size), cfg.saliency_fraction)
    task.progress("saliency", 1.0, "")
    losses = adam_cosine(model, relabelled_data(task, cfg.seed), epochs=epochs, lr=cfg.lr, batch_size=cfg.batch_size,
                         seed=cfg.seed, device=task.device, progress=task.progress, phase="random-label training",
                         masks=masks)
    selected = sum(int(m.sum()) for m in masks.values())
    total = sum(m.numel() for m in masks.values())
    return model, {"epochs": epochs, "epoch_losses": losses, "weights_salient": selected,
                   "salient_fraction": selected / total}


METHOD = Method(
    name="salun",
    run=run,
    config=SalUnConfig,
    summary="random-label training restricted to the weights most salient to Df",
    citation="Fan et al., SalUn, ICLR 2024",
)
