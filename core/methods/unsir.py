"""UNSIR (Tarun, Chundawat, Mandal, Kankanhalli, "Fast Yet Effective Machine Unlearning", IEEE TNNLS 2023).

For each forget class, learn an error-maximising noise batch N: maximise the loss of the fixed model on
(N, class) with an l2 penalty, i.e. minimise −CE(f(N), c) + ρ·mean‖N‖². Impair: one epoch on the noise
(repeated) mixed with a per-class subset of Dr. Repair: one epoch on the Dr subset alone. Class forgetting
only, since the noise is learned per class. Defaults are the authors' notebook's (vikram2000b/
Fast-Machine-Unlearning, "Machine Unlearning.ipynb"): noise 256 samples per class, Adam lr 0.1, 5 × 8 steps,
ρ = 0.1 (cell 24); the first 1,000 Dr samples of each retained class in dataset order (cell 20); impair
Adam lr 0.02, repair Adam lr 0.01, batch 256, one epoch each (cells 26, 30). BatchNorm is in train mode
throughout, as there: impair and repair call `model.train(True)`, and the noise step runs on the freshly
loaded model, which is in training mode (`batchnorm = "frozen"` keeps the running statistics instead and
learns the noise in eval mode).

Where we differ, and why (ours): the notebook repeats each class's noise batch 20 times beside 9,000 CIFAR-10
retain samples, so noise is 36% of the impair data; we keep that share rather than the copy count, which on
a small dataset would drown Dr. The notebook labels every noise sample with class 0 (`class_num = 0`, never
changed), which is the forgotten class only when that is 0; each class's noise carries its own class here.
Every cross-entropy is the exact log-likelihood (`core.likelihood`; `loss = "plain"` restores PyTorch's
float32 form): the mathematics is the notebook's.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.data import TensorDataset

from ..config import Config, param
from ..likelihood import cross_entropy
from ..runtime import iter_batches
from .base import Method, UnlearnTask
from .training import batchnorm_option, concat, loss_option, train_mode


@dataclass(frozen=True)
class UNSIRConfig(Config):
    """UNSIR's hyperparameters (the authors' notebook's defaults; the noise share is ours)."""

    noise_batch: int = param(256, "noise samples learned per forget class (the notebook's batch_size)", low=1)
    noise_epochs: int = param(5, "noise optimisation epochs (the notebook's num_epochs)", low=0)
    noise_steps: int = param(8, "noise optimisation steps per epoch (the notebook's num_steps)", low=0)
    noise_lr: float = param(0.1, "Adam learning rate of the noise (the notebook's)", low=0, low_open=True)
    noise_l2: float = param(0.1, "weight ρ of the noise's mean squared norm (the notebook's)", low=0)
    noise_share: float = param(0.36, "share of the impair data that is noise (ours: the notebook's 20 copies of "
                              "256 beside 9,000 retain samples)", low=0, high=1, low_open=True, high_open=True)
    retain_per_class: int = param(1000, "first Dr samples of each retained class in the impair/repair subset "
                                  "(the notebook's num_samples_per_class)", low=1)
    impair_lr: float = param(0.02, "Adam learning rate of the impair epoch (the notebook's)", low=0, low_open=True)
    repair_lr: float = param(0.01, "Adam learning rate of the repair epoch (the notebook's)", low=0, low_open=True)
    batch_size: int = param(256, "mini-batch size of impair and repair (the notebook's)", low=1)
    batchnorm: str = batchnorm_option("train", "the notebook trains, and learns the noise, in training mode")
    loss: str = loss_option()
    seed: int = param(0, "seed for the noise and shuffling (ours)", low=0)


def retain_subset(retain: TensorDataset, per_class: int) -> TensorDataset:
    """The first `per_class` Dr samples of each class, in dataset order (the notebook's `[:num_samples]`)."""
    x, y = retain.tensors
    keep = torch.cat([torch.nonzero(y == c).flatten()[:per_class] for c in torch.unique(y)])
    return TensorDataset(x[keep], y[keep])


def error_maximising_noise(model: nn.Module, cls: int, shape: tuple[int, ...], cfg: UNSIRConfig,
                           gen: torch.Generator, device: torch.device, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A noise batch the fixed model gets maximally wrong for class `cls` (UNSIR's noise step)."""
    noise = torch.randn((cfg.noise_batch, *shape), generator=gen, dtype=dtype).to(device).requires_grad_(True)
    opt = torch.optim.Adam([noise], lr=cfg.noise_lr)
    labels = torch.full((cfg.noise_batch,), cls, dtype=torch.long, device=device)
    train_mode(model, bn_eval=cfg.batchnorm == "frozen")
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        for _ in range(cfg.noise_epochs * cfg.noise_steps):
            loss = (-cross_entropy(model(noise), labels, form=cfg.loss)
                    + cfg.noise_l2 * noise.square().flatten(1).sum(1).mean())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    finally:
        for p in model.parameters():
            p.requires_grad_(True)
        model.eval()
    return noise.detach().cpu()


def one_epoch(model: nn.Module, data: TensorDataset, lr: float, cfg: UNSIRConfig, gen: torch.Generator,
              task: UnlearnTask, phase: str) -> float:
    """One Adam epoch of cross-entropy over `data`; returns the mean loss."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    train_mode(model, bn_eval=cfg.batchnorm == "frozen")
    n = len(data.tensors[0])
    total, done = 0.0, 0
    for x, y in iter_batches(data, cfg.batch_size, shuffle=True, generator=gen):
        x, y = x.to(task.device), y.to(task.device)
        loss = cross_entropy(model(x), y, form=cfg.loss)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += float(loss.detach()) * len(y)
        done += len(y)
        task.progress(phase, done / n, "")
    model.eval()
    return total / max(done, 1)


def run(model: nn.Module, task: UnlearnTask, cfg: UNSIRConfig):
    gen = torch.Generator().manual_seed(cfg.seed)
    shape = tuple(task.forget.tensors[0].shape[1:])
    subset = retain_subset(task.retain, cfg.retain_per_class)
    per_class = max(1, round(cfg.noise_share / (1 - cfg.noise_share) * len(subset.tensors[0]) / len(task.forget_classes)))
    noise_parts = []
    for k, cls in enumerate(task.forget_classes):
        task.progress("noise", k / len(task.forget_classes), f"class {cls}")
        noise = error_maximising_noise(model, cls, shape, cfg, gen, task.device, task.forget.tensors[0].dtype)
        rows = torch.arange(per_class) % len(noise)
        noise_parts.append(TensorDataset(noise[rows], torch.full((per_class,), cls, dtype=task.retain.tensors[1].dtype)))
    task.progress("noise", 1.0, "")
    impair = one_epoch(model, concat(*noise_parts, subset), cfg.impair_lr, cfg, gen, task, "impair")
    repair = one_epoch(model, subset, cfg.repair_lr, cfg, gen, task, "repair")
    return model, {"noise_samples": sum(len(p.tensors[0]) for p in noise_parts), "retain_subset": len(subset.tensors[0]),
                   "epoch_losses": [impair, repair]}


METHOD = Method(
    name="unsir",
    title="UNSIR",
    run=run,
    config=UNSIRConfig,
    summary="learn error-maximising noise for the forget classes, then impair and repair on a Dr subset",
    citation="Tarun et al., Fast Yet Effective Machine Unlearning, IEEE TNNLS 2023",
    needs_retain="a subset",
    forget_kinds=("classes",),
)
