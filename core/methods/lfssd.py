"""Loss-Free SSD (Foster, Schoepf, Brintrup, "Loss-Free Machine Unlearning", ICLR 2024 Tiny Papers).

SSD with the importance replaced by the sensitivity of the output's squared l2 norm, so no labels are used
anywhere. As the authors' README (if-loops/selective-synaptic-dampening, "Implementing LFSSD") changes
SSD's `calc_importance`: the batch objective is `torch.norm(out, p="fro", dim=1).pow(2).mean()` and each
batch adds the *absolute* value of its gradient (`p.grad.abs()`) instead of its square; averaged over the
batches as SSD does. Loaders, selection and dampening are SSD's (`ssd.py`: α = 10, λ = 1, batches 64/128).
Since the importance is a first power, its ratio is roughly the square root of one built on squares: a
squared form makes α = 10 act like α ≈ 3 (on the shipped digits model, class 0: 2 weights selected by this
form, 1,539 by per-sample squares).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .base import Method, UnlearnTask
from .ssd import DampeningConfig, dampen_run, reference_importances


@dataclass(frozen=True)
class LFSSDConfig(DampeningConfig):
    """Loss-Free SSD's hyperparameters: SSD's selection and dampening (the reference's defaults)."""


def output_norm_objective(out: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
    """The batch mean of ||f(x)||²: Loss-Free SSD's label-free objective."""
    return out.pow(2).sum(dim=1).mean()


def run(model: nn.Module, task: UnlearnTask, cfg: LFSSDConfig):
    i_f, i_d = reference_importances(model, task, cfg, kind="lfssd-batch", objective=output_norm_objective,
                                     absolute=True)
    return dampen_run(model, task, cfg, i_f, i_d)


METHOD = Method(
    name="lfssd",
    title="Loss-free SSD",
    run=run,
    config=LFSSDConfig,
    summary="SSD with output-norm sensitivity as importance: needs no labels",
    citation="Foster et al., Loss-Free Machine Unlearning, ICLR 2024 Tiny Papers",
    needs_labels=False,
    needs_retain="yes (importance)",
)
