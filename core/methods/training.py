"""Pieces the training-based methods share: the masked Adam loop, BatchNorm modes, data mixes, losses.

Every cross-entropy and KL term here goes through `core.likelihood` (the log-likelihood the Fisher uses),
exact where the model is confident; each method's `loss` option ("plain") restores PyTorch's float32 form
so the difference can be measured. BatchNorm follows each method's reference ("train": batch statistics,
running statistics updated, as `model.train()` does) unless its `batchnorm` option says "frozen".
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator

import torch
from torch import nn
from torch.utils.data import TensorDataset

from .. import likelihood
from ..config import param
from ..runtime import Progress, iter_batches, no_progress
from .base import MethodError

BATCHNORM_MODES = ("train", "frozen")


def loss_option() -> Any:
    """A config's `loss` field: which form of the log-likelihood its training losses use."""
    return param("exact", "loss form: 'exact' (log-likelihood and KL stable where the model is confident, "
                 "core/likelihood.py) or 'plain' (PyTorch's float32 cross_entropy, to measure the difference)",
                 choices=likelihood.LOSS_FORMS)


def batchnorm_option(default: str, source: str) -> Any:
    """A config's `batchnorm` field; `source` says where the default comes from."""
    return param(default, "BatchNorm while training: 'train' (batch statistics; running statistics updated) or "
                 f"'frozen' (running statistics kept); {source}", choices=BATCHNORM_MODES)


def adam_cosine(model: nn.Module, data: TensorDataset | Callable[[int], TensorDataset], *, epochs: int, lr: float,
                batch_size: int, seed: int, device: torch.device, progress: Progress = no_progress,
                phase: str = "fine-tuning", masks: dict[str, torch.Tensor] | None = None, bn_eval: bool = True,
                penalty: Callable[[nn.Module, int], torch.Tensor] | None = None, loss: str = "exact") -> list[float]:
    """Cross-entropy with Adam and a cosine learning-rate schedule, without augmentation.

    `data` is a dataset, or a function of the epoch number that returns that epoch's dataset (SalUn draws
    fresh random labels each epoch); every epoch has the same number of samples.
    With `masks` (parameter name → bool tensor), only the masked entries change: gradients are masked
    and every other entry is restored after each step, so it stays bit-for-bit as it was; tensors with
    no masked entry are frozen for the duration, so backpropagation skips their gradients (and stops at
    the first layer that trains). `bn_eval` keeps BatchNorm running statistics frozen.
    `penalty(model, epoch)` is added to the loss; `loss` is the cross-entropy's form (`core.likelihood`).
    """
    epoch_data = data if callable(data) else (lambda epoch: data)
    named = dict(model.named_parameters())
    params = [p for n, p in named.items() if masks is None or (n in masks and masks[n].any())]
    if not params or epochs <= 0:
        return []
    masks = {n: m for n, m in masks.items() if m.any()} if masks is not None else None
    frozen = {n: named[n].detach().clone() for n in masks} if masks is not None else {}
    opt = torch.optim.Adam(params, lr=lr)
    first = epoch_data(0)
    steps = epochs * -(-len(first.tensors[0]) // batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    gen = torch.Generator().manual_seed(seed)
    train_mode(model, bn_eval)
    with only_trainable(model, params):
        losses, step = [], 0
        for epoch in range(epochs):
            total, count = 0.0, 0
            for x, y in iter_batches(first if epoch == 0 else epoch_data(epoch), batch_size, shuffle=True,
                                     generator=gen):
                x, y = x.to(device), y.to(device)
                value = likelihood.cross_entropy(model(x), y, form=loss)
                if penalty is not None:
                    value = value + penalty(model, epoch)
                opt.zero_grad(set_to_none=True)
                value.backward()
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
                total += float(value.detach()) * len(y)
                count += len(y)
                step += 1
                progress(phase, step / steps, f"epoch {epoch + 1}/{epochs}, loss {total / count:.4f}")
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


def distill_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float, *,
               loss: str = "exact") -> torch.Tensor:
    """KL(teacher ‖ student) on temperature-softened outputs, per sample, scaled by T² (Hinton et al.'s
    distillation loss; SCRUB's `DistillKL`). Both sides as log-probabilities (`core.likelihood`), so neither
    a rounded probability nor its logarithm loses the confident class's gradient."""
    t = temperature
    return likelihood.kl_divergence(likelihood.log_softmax(teacher_logits / t, form=loss),
                                    likelihood.log_softmax(student_logits / t, form=loss)) * t * t


def last_linear(model: nn.Module) -> nn.Linear:
    """The classifier head: the last nn.Linear in the model."""
    heads = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not heads:
        raise MethodError("this method needs a model whose classifier is an nn.Linear layer")
    return heads[-1]
