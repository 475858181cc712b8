"""NegGrad+ (as defined by Kurmanji et al., NeurIPS 2023): gradient descent on Dr and ascent on Df together.

Loss per step = β·CE(Dr batch) − (1 − β)·CE(Df batch), Df batches cycled alongside Dr's; DeepClean's
optimiser and epochs. The ascent term is unbounded, so it is clipped at `max_forget_loss` per batch
(once Df is wrong enough, the ascent stops pushing) — a guard the published form leaves to tuning.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..config import Config, param
from ..runtime import iter_batches
from .base import Method, UnlearnTask
from .training import cycle, train_mode


@dataclass(frozen=True)
class NegGradPlusConfig(Config):
    """NegGrad+'s hyperparameters."""

    beta: float = param(0.95, "β: weight of the Dr loss (1 − β on the Df ascent)", low=0, high=1)
    max_forget_loss: float = param(10.0, "Df loss above which the ascent term is clipped", low=0, low_open=True)
    epochs: int | None = param(None, "epochs over Dr (empty: the dataset's fine-tuning epochs)", low=0)
    lr: float = param(1e-3, "Adam learning rate (cosine-annealed)", low=0, low_open=True)
    batch_size: int = param(64, "mini-batch size (Dr and Df)", low=1)
    seed: int = param(0, "shuffling seed", low=0)


def run(model: nn.Module, task: UnlearnTask, cfg: NegGradPlusConfig):
    epochs = cfg.epochs if cfg.epochs is not None else task.recipe.finetune_epochs
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    steps = max(1, epochs * -(-len(task.retain.tensors[0]) // cfg.batch_size))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    gen = torch.Generator().manual_seed(cfg.seed)
    forget = cycle(task.forget, cfg.batch_size, gen)
    losses, step = [], 0
    train_mode(model)
    for epoch in range(epochs):
        total, count = 0.0, 0
        for xr, yr in iter_batches(task.retain, cfg.batch_size, shuffle=True, generator=gen):
            xf, yf = next(forget)
            xr, yr, xf, yf = (t.to(task.device) for t in (xr, yr, xf, yf))
            forget_loss = torch.clamp(F.cross_entropy(model(xf), yf), max=cfg.max_forget_loss)
            loss = cfg.beta * F.cross_entropy(model(xr), yr) - (1 - cfg.beta) * forget_loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(yr)
            count += len(yr)
            step += 1
            task.progress("descent + ascent", step / steps, f"epoch {epoch + 1}/{epochs}")
        losses.append(total / max(count, 1))
    model.eval()
    return model, {"epochs": epochs, "epoch_losses": losses}


METHOD = Method(
    name="neggrad_plus",
    run=run,
    config=NegGradPlusConfig,
    summary="descend the loss on Dr while ascending it on Df",
    citation="Kurmanji et al., Towards Unbounded Machine Unlearning, NeurIPS 2023 (NegGrad+)",
)
