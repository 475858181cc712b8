"""Training with the papers' recipe: SGD, momentum 0.9, weight decay 5e-4, lr 0.1, multi-step decay."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

from .config import Config, param
from .data import Recipe
from .progress import Progress, no_progress
from .runtime import iter_batches


@dataclass(frozen=True)
class TrainConfig(Config):
    """Training hyperparameters; None means "take it from the dataset's recipe"."""

    epochs: int | None = param(None, "training epochs (empty: the dataset's recipe)", low=1)
    milestones: tuple[int, ...] | None = param(None, "epochs at which the learning rate decays (empty: the recipe's)")
    lr_decay: float | None = param(None, "factor the learning rate is multiplied by at each milestone (empty: the recipe's)",
                                   low=0, low_open=True)
    lr: float = param(0.1, "initial SGD learning rate", low=0, low_open=True)
    momentum: float = param(0.9, "SGD momentum", low=0, high=1, high_open=True)
    weight_decay: float = param(5e-4, "L2 weight decay", low=0)
    batch_size: int = param(64, "mini-batch size", low=1)
    seed: int = param(0, "seed for weight initialisation and shuffling", low=0)

    def resolved(self, recipe: Recipe) -> "TrainConfig":
        """This config with the recipe's epochs, milestones and decay filled in where left empty."""
        return replace(
            self,
            epochs=self.epochs if self.epochs is not None else recipe.epochs,
            milestones=tuple(self.milestones) if self.milestones is not None else recipe.milestones,
            lr_decay=self.lr_decay if self.lr_decay is not None else recipe.lr_decay,
        )


def optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """The recipe's optimiser: SGD with momentum and weight decay."""
    return torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def step(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor) -> float:
    """One training step on a batch; returns its mean loss."""
    loss = F.cross_entropy(model(x), y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return float(loss.detach())


def steps_per_run(cfg: TrainConfig, samples: int) -> int:
    """Optimiser steps a whole training run of a resolved config takes on `samples` images."""
    return cfg.epochs * -(-samples // cfg.batch_size)


def train(model: nn.Module, data: TensorDataset, cfg: TrainConfig, *, device: torch.device,
          progress: Progress = no_progress, phase: str = "training") -> dict:
    """Train `model` in place on `data` with a resolved config; returns per-epoch losses and wall time."""
    if cfg.epochs is None or cfg.milestones is None or cfg.lr_decay is None:
        raise ValueError("train() needs a resolved config: call cfg.resolved(dataset.recipe) first")
    gen = torch.Generator().manual_seed(cfg.seed)
    model.to(device).train()
    opt = optimizer(model, cfg)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=list(cfg.milestones), gamma=cfg.lr_decay)
    losses, t0 = [], time.perf_counter()
    for epoch in range(cfg.epochs):
        total, count = 0.0, 0
        for x, y in iter_batches(data, cfg.batch_size, shuffle=True, generator=gen):
            total += step(model, opt, x.to(device, non_blocking=True), y.to(device, non_blocking=True)) * len(y)
            count += len(y)
        sched.step()
        losses.append(total / max(count, 1))
        progress(phase, (epoch + 1) / cfg.epochs, f"epoch {epoch + 1}/{cfg.epochs}, loss {losses[-1]:.4f}")
    model.eval()
    return {"epoch_losses": losses, "seconds": time.perf_counter() - t0}
