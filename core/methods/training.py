"""Pieces the training-based methods share: the masked Adam loop, BatchNorm modes, data mixes, losses."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

from ..runtime import Progress, iter_batches, no_progress
from .base import MethodError


def adam_cosine(model: nn.Module, data: TensorDataset, *, epochs: int, lr: float, batch_size: int, seed: int,
                device: torch.device, progress: Progress = no_progress, phase: str = "fine-tuning",
                masks: dict[str, torch.Tensor] | None = None, bn_eval: bool = True,
                penalty: Callable[[nn.Module, float], torch.Tensor] | None = None) -> list[float]:
    """Cross-entropy with Adam and a cosine learning-rate schedule, without augmentation.

    With `masks` (parameter name → bool tensor), only the masked entries change: gradients are masked
    and every other entry is restored after each step, so it stays bit-for-bit as it was; tensors with
    no masked entry are frozen for the duration, so backpropagation skips their gradients (and stops at
    the first layer that trains). `bn_eval` keeps BatchNorm running statistics frozen.
    `penalty(model, progress_fraction)` is added to the loss.
    """
    named = dict(model.named_parameters())
    params = [p for n, p in named.items() if masks is None or (n in masks and masks[n].any())]
    if not params or epochs <= 0:
        return []
    masks = {n: m for n, m in masks.items() if m.any()} if masks is not None else None
    frozen = {n: named[n].detach().clone() for n in masks} if masks is not None else {}
    opt = torch.optim.Adam(params, lr=lr)
    steps = epochs * -(-len(data.tensors[0]) // batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    gen = torch.Generator().manual_seed(seed)
    train_mode(model, bn_eval)
    with only_trainable(model, params):
        losses, step = [], 0
        for epoch in range(epochs):
            total, count = 0.0, 0
            for x, y in iter_batches(data, batch_size, shuffle=True, generator=gen):
                x, y = x.to(device), y.to(device)
                loss = F.cross_entropy(model(x), y)
                if penalty is not None:
                    loss = loss + penalty(model, step / steps)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if masks is not None:
                    for n, mask in masks.items():
                        if named[n].grad is not None:
                            named[n].grad.mul_(mask)
                opt.step()
                sched.step()
                if masks is not None:
                    with torch.no_grad():
                        for n, mask in masks.items():
                            named[n].copy_(torch.where(mask, named[n], frozen[n]))
                total += float(loss.detach()) * len(y)
                count += len(y)
                step += 1
                progress(phase, step / steps, f"epoch {epoch + 1}/{epochs}")
            losses.append(total / max(count, 1))
    model.eval()
    return losses


@contextmanager
def only_trainable(model: nn.Module, params: list[nn.Parameter]) -> Iterator[None]:
    """Turn off gradients of every other parameter for the duration, so backpropagation skips them."""
    keep = {id(p) for p in params}
    off = [p for p in model.parameters() if p.requires_grad and id(p) not in keep]
    for p in off:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in off:
            p.requires_grad_(True)


def train_mode(model: nn.Module, bn_eval: bool = True) -> None:
    """Training mode, with BatchNorm's running statistics frozen when `bn_eval`."""
    model.train()
    if bn_eval:
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()


def cycle(data: TensorDataset, batch_size: int, generator: torch.Generator) -> Iterator[tuple[torch.Tensor, ...]]:
    """Shuffled batches of `data`, reshuffled and repeated without end (pairs a small Df with Dr batches)."""
    while True:
        yield from iter_batches(data, batch_size, shuffle=True, generator=generator)


def random_other_labels(data: TensorDataset, num_classes: int, seed: int) -> TensorDataset:
    """`data` with every label replaced by a uniformly random *other* class (amnesiac / random-label unlearning)."""
    x, y = data.tensors[0], data.tensors[1]
    shift = torch.randint(1, num_classes, y.shape, generator=torch.Generator().manual_seed(seed))
    return TensorDataset(x, (y + shift) % num_classes)


def concat(*parts: TensorDataset) -> TensorDataset:
    """Rows of several TensorDatasets, stacked."""
    return TensorDataset(*(torch.cat(ts) for ts in zip(*(p.tensors for p in parts))))


def distill_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL(teacher ‖ student) on temperature-softened outputs, scaled by T² (Hinton et al.'s distillation loss)."""
    t = temperature
    return F.kl_div(F.log_softmax(student_logits / t, dim=1), F.softmax(teacher_logits / t, dim=1),
                    reduction="batchmean") * t * t


def last_linear(model: nn.Module) -> nn.Linear:
    """The classifier head: the last nn.Linear in the model."""
    heads = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not heads:
        raise MethodError("this method needs a model whose classifier is an nn.Linear layer")
    return heads[-1]
