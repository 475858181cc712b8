"""Bad teacher (Chundawat, Tarun, Mandal, Kankanhalli, "Can Bad Teaching Induce Forgetting?", AAAI 2023).

The student (the original model) distils from the competent teacher (a frozen copy of the original) on
Dr samples and from an incompetent teacher (a randomly initialised model of the same architecture) on Df
samples, by KL divergence at temperature T. As the authors' code (vikram2000b/bad-teaching-unlearning,
`unlearn.py`: `UnlearnerLoss`, `blindspot_unlearner`; `CIFARSuper20_Rocket_Unlearn.ipynb` cells 6 and 15):
one epoch, Adam lr 1e-4, T = 1, batch 256, a random 30% of Dr (`random.sample`) with all of Df, shuffled
together; both teachers in eval mode; the loss `F.kl_div(log_softmax(student/T), teacher probabilities)` with
PyTorch's default reduction, the mean over every element (batch × classes); the student is a freshly loaded
model, so it trains with BatchNorm in train mode (`batchnorm = "frozen"` keeps its running statistics).

Numerics only (`core.likelihood`): both sides of the KL are log-probabilities, the confident class in the
exact form, so neither a rounded probability nor its logarithm loses a gradient; `loss = "plain"` restores
the float32 softmax/log_softmax form.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.data import TensorDataset

from ..config import Config, param
from ..likelihood import kl_divergence, log_softmax
from ..runtime import iter_batches, subsample
from .base import Method, UnlearnTask
from .training import batchnorm_option, concat, loss_option, train_mode


@dataclass(frozen=True)
class BadTeacherConfig(Config):
    """Bad teacher's hyperparameters (the authors' notebook's)."""

    epochs: int = param(1, "distillation epochs (the notebook's)", low=0)
    lr: float = param(1e-4, "Adam learning rate (the notebook's)", low=0, low_open=True)
    temperature: float = param(1.0, "KL temperature T (the notebook's KL_temperature)", low=0, low_open=True)
    retain_fraction: float = param(0.3, "fraction of Dr distilled from the competent teacher (the notebook's)",
                                   low=0, high=1, low_open=True)
    batch_size: int = param(256, "mini-batch size (the notebook's)", low=1)
    batchnorm: str = batchnorm_option("train", "the notebook's student is a freshly loaded model, in training mode")
    loss: str = loss_option()
    seed: int = param(0, "seed for the Dr subset, the incompetent teacher and shuffling (ours)", low=0)


def run(model: nn.Module, task: UnlearnTask, cfg: BadTeacherConfig):
    from ..cards import fresh_model

    good = copy.deepcopy(model).eval()
    bad = fresh_model(task.card, cfg.seed).to(task.device).eval()
    n_r = len(task.retain.tensors[0])
    retain = subsample(task.retain, max(1, int(cfg.retain_fraction * n_r)), cfg.seed)
    # The third tensor says which teacher a row learns from: 1 = incompetent (Df), 0 = competent (Dr).
    data = concat(TensorDataset(*task.forget.tensors, torch.ones(len(task.forget.tensors[0]))),
                  TensorDataset(*retain.tensors, torch.zeros(len(retain.tensors[0]))))
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    gen = torch.Generator().manual_seed(cfg.seed)
    steps = cfg.epochs * -(-len(data.tensors[0]) // cfg.batch_size)
    t = cfg.temperature
    losses, step = [], 0
    train_mode(model, bn_eval=cfg.batchnorm == "frozen")
    for epoch in range(cfg.epochs):
        total, count = 0.0, 0
        for x, _, from_bad in iter_batches(data, cfg.batch_size, shuffle=True, generator=gen):
            x, from_bad = x.to(task.device), from_bad.to(task.device).bool()[:, None]
            with torch.no_grad():
                target = torch.where(from_bad, log_softmax(bad(x) / t, form=cfg.loss),
                                     log_softmax(good(x) / t, form=cfg.loss))
            loss = kl_divergence(target, log_softmax(model(x) / t, form=cfg.loss), reduction="mean")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(x)
            count += len(x)
            step += 1
            task.progress("distillation", step / steps, f"epoch {epoch + 1}/{cfg.epochs}")
        losses.append(total / max(count, 1))
    model.eval()
    return model, {"epochs": cfg.epochs, "retain_subset": len(retain.tensors[0]), "epoch_losses": losses}


METHOD = Method(
    name="bad_teacher",
    title="Bad teacher",
    run=run,
    config=BadTeacherConfig,
    summary="distil from the original on Dr and from a random network on Df",
    needs_retain="a subset",
    citation="Chundawat et al., Can Bad Teaching Induce Forgetting?, AAAI 2023",
)
