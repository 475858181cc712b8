"""SCRUB (Kurmanji, Triantafillou, Hayes, Triantafillou, "Towards Unbounded Machine Unlearning", NeurIPS 2023).

Teacher = the frozen original; the student starts as a copy. Each epoch: while epoch ≤ msteps, a "max" pass
over Df maximising KL(teacher ‖ student), then a "min" pass over Dr minimising γ·CE + α·KL(teacher ‖ student).
As the authors' main notebook runs it (meghdadk/SCRUB `large_scale_unlearning.ipynb`: loaders in cell 28,
hyperparameters in cell 32, loop in cell 36; `train_distill` in thirdparty/repdistiller/helper/loops.py,
`DistillKL` in distiller_zoo/KD.py): SGD, momentum 0.9, weight decay 5e-4, lr 5e-4 (its decay epochs 3, 5, 9
never trigger within 3 epochs), 3 epochs with 2 max passes, KL temperature 4 (KL·T², per sample), γ = 0.99,
α = 0.001, Dr batch 256, Df batch 512, both shuffled; `train_distill` puts the student in train mode
(BatchNorm on batch statistics; `batchnorm = "frozen"` keeps its running statistics) and the teacher in eval.

Our addition: the ascent is unbounded, and the max pass's KL can be clipped at `max_forget_kl`, past which a
batch stops pushing; empty (the default) is the published, uncapped form. Numerics only (`core.likelihood`):
the CE is the exact log-likelihood and both sides of the KL are log-probabilities with the confident class in
the exact form; `loss = "plain"` restores PyTorch's float32 forms.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from ..config import Config, param
from ..likelihood import cross_entropy
from ..runtime import iter_batches
from .base import Method, UnlearnTask
from .training import batchnorm_option, distill_kl, loss_option, train_mode


@dataclass(frozen=True)
class SCRUBConfig(Config):
    """SCRUB's hyperparameters (the authors' large_scale_unlearning.ipynb)."""

    epochs: int = param(3, "epochs, each a max pass while allowed, then a min pass (sgda_epochs)", low=0)
    max_epochs: int = param(2, "epochs that include the max pass over Df (msteps)", low=0)
    lr: float = param(5e-4, "SGD learning rate (sgda_learning_rate)", low=0, low_open=True)
    momentum: float = param(0.9, "SGD momentum (sgda_momentum)", low=0, high=1, high_open=True)
    weight_decay: float = param(5e-4, "SGD weight decay (sgda_weight_decay)", low=0)
    temperature: float = param(4.0, "KL temperature (kd_T)", low=0, low_open=True)
    ce_weight: float = param(0.99, "γ: weight of the cross-entropy on Dr (gamma)", low=0)
    kl_weight: float = param(0.001, "α: weight of the KL to the teacher on Dr (alpha)", low=0)
    max_forget_kl: float | None = param(None, "cap on the Df KL the max pass ascends (ours; empty: no cap, as "
                                        "published)", low=0, low_open=True)
    batch_size: int = param(256, "Dr mini-batch size (the notebook's retain_loader)", low=1)
    forget_batch_size: int = param(512, "Df mini-batch size (the notebook's forget_loader)", low=1)
    batchnorm: str = batchnorm_option("train", "train_distill calls model_s.train()")
    loss: str = loss_option()
    seed: int = param(0, "shuffling seed (ours)", low=0)


def run(model: nn.Module, task: UnlearnTask, cfg: SCRUBConfig):
    teacher = copy.deepcopy(model).eval()
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(cfg.seed)
    max_losses, min_losses = [], []
    for epoch in range(cfg.epochs):
        passes = ([("max", task.forget, cfg.forget_batch_size)] if epoch < cfg.max_epochs else []) + \
                 [("min", task.retain, cfg.batch_size)]
        for kind, data, bs in passes:
            train_mode(model, bn_eval=cfg.batchnorm == "frozen")
            total, count = 0.0, 0
            n = len(data.tensors[0])
            for x, y in iter_batches(data, bs, shuffle=True, generator=gen):
                x, y = x.to(task.device), y.to(task.device)
                out = model(x)
                with torch.no_grad():
                    target = teacher(x)
                kl = distill_kl(out, target, cfg.temperature, loss=cfg.loss)
                if kind == "max" and cfg.max_forget_kl is not None:
                    kl = torch.clamp(kl, max=cfg.max_forget_kl)
                loss = (-kl if kind == "max"
                        else cfg.ce_weight * cross_entropy(out, y, form=cfg.loss) + cfg.kl_weight * kl)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(y)
                count += len(y)
                task.progress(f"{kind} pass", count / n, f"epoch {epoch + 1}/{cfg.epochs}")
            (max_losses if kind == "max" else min_losses).append(total / max(count, 1))
    model.eval()
    return model, {"epochs": cfg.epochs, "max_losses": max_losses, "min_losses": min_losses}


METHOD = Method(
    name="scrub",
    title="SCRUB",
    run=run,
    config=SCRUBConfig,
    summary="student moves away from the original on Df and stays close on Dr (max-min distillation)",
    citation="Kurmanji et al., Towards Unbounded Machine Unlearning, NeurIPS 2023",
)
