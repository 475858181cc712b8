"""Selective Synaptic Dampening (Foster, Schoepf, Brintrup, AAAI 2024), as the authors' code computes it.

Reference: if-loops/selective-synaptic-dampening, `src/ssd.py` (`ParameterPerturber.calc_importance`,
`modify_weight`), `src/forget_full_class_strategies.py` / `src/forget_random_strategies.py` (`ssd_tuning`)
and `src/forget_full_class_main.py` / `src/forget_random_main.py` (loaders, α, λ).

- Importance []_S of a set S (`calc_importance`): for each mini-batch of S's loader, in order, the gradient
  of the batch's *mean* cross-entropy, squared; summed and divided by the number of batches. The model is
  in eval mode (`ssd_tuning` calls `model.eval()`).
- []_Df on the forget loader (batch 64 for classes, `DataLoader(forget_train, batch_size)` with `-b 64`;
  128 for random samples), []_D on the unshuffled loader of D = ConcatDataset((retain, forget)), batch 64:
  Dr first, then Df. For classes both are built class by class (`get_classwise_ds`), so Dr runs in class
  order; for random samples the reference's order is `random_split`'s, which no other dataset reproduces:
  ours is the dataset's order.
- Selection and dampening (`modify_weight`, exponent 1, bound 1): weights with []_Df > α·[]_D become
  θ·min(λ·[]_D/[]_Df, 1). α = 10 (`selection_weighting`, 10 for ResNet, 5 for ViT), λ = 1
  (`dampening_constant`).

The cross-entropy is the exact log-likelihood (`core.likelihood`); `loss = "plain"` gives the reference's
float32 `nn.CrossEntropyLoss` (the difference is rounding only, on confident samples).

When can a weight be selected at all? With importances averaged per *sample* over D = Dr ∪ Df,
[]_D = (|Dr|·[]_Dr + |Df|·[]_Df)/|D| ≥ (|Df|/|D|)·[]_Df, so []_Df/[]_D ≤ |D|/|Df|: with α = 10 a 10% forget
set can select nothing (`ssd_retain` with `reference = "train"` on digits' random 10%: |D|/|Df| = 9.98, largest
ratio 9.98, 0 weights), and a class of a 10-class set only weights in the sliver (10, |D|/|Df|] (the MNIST
benchmark's class 0, |D|/|Df| = 10.2: 2,768 weights, Acc(Df) still 100%). The same bound holds per *batch* when every Df batch is also
one of D's batches (Dr a multiple of the batch size, same batch size): D's sum of squared batch means then
contains Df's, and []_Df/[]_D ≤ (D's batches)/(Df's batches). The reference's loaders do not line up: the
batch at the Dr/Df boundary mixes the two sets and every later Df batch is shifted, so the bound does not
hold. Measured on the shipped digits model, class 0 (|Dr| = 1,214, not a multiple of 64): the largest
ratio is 273, 39 weights pass α = 10 and Acc(Df) stays 100%; with Dr cut to its first 1,152 = 18·64 samples
the boundary batch is pure, D has 21 batches and Df 3, and the largest ratio is 7.0 = 21/3: no weight passes.
`tests/test_ssd.py` checks both cases on a tiny model. The same misalignment lets the reference select on
random forget sets (digits' random 10%: 7 weights, largest ratio 910) and on the MNIST benchmark's class 0
(241 weights, largest ratio 154, Acc(Df) still 100%).

Our own form, the exact per-sample Fisher referenced to Dr and shared with DeepClean, is `ssd_retain`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn
from torch.utils.data import TensorDataset

from ..config import Config, param
from ..likelihood import cross_entropy
from ..runtime import Progress, iter_batches, no_progress
from .base import Method, UnlearnTask
from .training import concat, loss_option

# The reference's Df loader batch per forget kind (forget_full_class_main.py: -b 64; forget_random_main.py: 128).
FORGET_BATCH = {"classes": 64, "random": 128, "indices": 128}

# Batch objective: (model outputs B×K, labels B) -> the batch's scalar loss.
BatchObjective = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class DampeningConfig(Config):
    """Selection and dampening as the reference runs them (SSD and Loss-Free SSD alike)."""

    alpha: float = param(10.0, "selection α: dampen weights with []_Df > α·[]_D (the reference's "
                         "selection_weighting)", low=0, low_open=True)
    dampening: float = param(1.0, "dampening λ: β = min(λ·[]_D/[]_Df, 1) (the reference's dampening_constant)",
                             low=0, low_open=True)
    batch_size: int = param(64, "batch of D's importance loader (the reference's -b default); the importance "
                            "depends on it", low=1)
    forget_batch_size: int | None = param(None, "batch of Df's importance loader (empty: the reference's, 64 for "
                                          "classes, 128 for samples)", low=1)


@dataclass(frozen=True)
class SSDConfig(DampeningConfig):
    """SSD's hyperparameters (the reference code's defaults)."""

    loss: str = loss_option()


def batch_importance(model: nn.Module, data: TensorDataset, *, objective: BatchObjective, absolute: bool,
                     batch_size: int, device: torch.device, progress: Progress = no_progress,
                     phase: str = "importance", **_: object) -> dict[str, torch.Tensor]:
    """Mean over the unshuffled mini-batches of `data` of (∇ batch objective)², or of |∇ batch objective| with
    `absolute` (Loss-Free SSD), for every parameter; the model runs in eval mode (restored afterwards)."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    sums = {n: torch.zeros_like(p) for n, p in model.named_parameters()}
    n = len(data.tensors[0])
    was_training = model.training
    model.eval()
    batches = done = 0
    try:
        for batch in iter_batches(data, batch_size):
            x, y = batch[0].to(device), batch[1].to(device)
            grads = torch.autograd.grad(objective(model(x), y), [p for _, p in named], allow_unused=True)
            for (name, _), g in zip(named, grads):
                if g is not None:
                    sums[name] += g.abs() if absolute else g.square()
            batches += 1
            done += len(x)
            progress(phase, done / n, f"{done}/{n} samples")
    finally:
        model.train(was_training)
    return {k: v / batches for k, v in sums.items()}


def reference_train_set(task: UnlearnTask) -> TensorDataset:
    """D in the reference's loader order: Dr then Df, each class by class when forgetting classes."""
    parts = [task.retain, task.forget]
    if task.forget_kind == "classes":
        parts = [TensorDataset(*(t[torch.argsort(p.tensors[1], stable=True)] for t in p.tensors)) for p in parts]
    return concat(*parts)


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


def dampen_run(model: nn.Module, task: UnlearnTask, cfg, i_f: dict, i_d: dict) -> tuple[nn.Module, dict]:
    """Dampen `model` with the two importances and report what was selected."""
    task.progress("dampening", 0.0, f"α = {cfg.alpha}, λ = {cfg.dampening}")
    counts = dampen(model, i_f, i_d, cfg.alpha, cfg.dampening)
    task.progress("dampening", 1.0, "")
    selected = sum(c["selected"] for c in counts.values())
    total = sum(c["total"] for c in counts.values())
    ratio = max((float((i_f[n] / i_d[n])[i_d[n] > 0].max()) for n in i_f if (i_d[n] > 0).any()), default=0.0)
    return model, {"weights_dampened": selected, "weights_total": total, "weights_reset_fraction": selected / total,
                   "largest_ratio": ratio, "per_layer": counts, "steps": 0}


def reference_importances(model: nn.Module, task: UnlearnTask, cfg: DampeningConfig, *, kind: str,
                          objective: BatchObjective, absolute: bool) -> tuple[dict, dict]:
    """[]_Df and []_D as the reference's loaders give them, through the task's shared cache."""
    compute = functools.partial(batch_importance, objective=objective, absolute=absolute)
    forget_batch = cfg.forget_batch_size or FORGET_BATCH[task.forget_kind]
    common = dict(max_samples=None, seed=0, device=task.device, progress=task.progress, compute=compute)
    i_f = task.importance.get(kind, model, task.forget, which="forget", batch_size=forget_batch,
                              phase="importance on Df", **common)
    i_d = task.importance.get(kind, model, reference_train_set(task), which="train", batch_size=cfg.batch_size,
                              phase="importance on D", **common)
    return i_f, i_d


def run(model: nn.Module, task: UnlearnTask, cfg: SSDConfig):
    objective = functools.partial(cross_entropy, form=cfg.loss)
    i_f, i_d = reference_importances(model, task, cfg, kind=f"ssd-batch-{cfg.loss}", objective=objective,
                                     absolute=False)
    return dampen_run(model, task, cfg, i_f, i_d)


METHOD = Method(
    name="ssd",
    title="SSD",
    run=run,
    config=SSDConfig,
    summary="dampen weights far more important to Df than to D (the reference's squared batch-mean gradients)",
    citation="Foster et al., Selective Synaptic Dampening, AAAI 2024 (if-loops/selective-synaptic-dampening)",
    needs_retain="yes (importance)",
)
