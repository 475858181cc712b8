"""Loss-Free SSD (Foster, Schoepf, Brintrup, "Loss-Free Machine Unlearning", ICLR 2024 Tiny Papers).

SSD with the importance replaced by the sensitivity of the output's l2 norm: the mean squared
per-sample gradient of ||f(x)||², so no labels are used anywhere. Selection and dampening as SSD's,
with the same reference defaults (α = 10, λ = 1) and the same choice of reference set (see `ssd.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from .base import Method, UnlearnTask
from .ssd import SSDConfig, importance_run


@dataclass(frozen=True)
class LFSSDConfig(SSDConfig):
    """Loss-Free SSD's hyperparameters: SSD's, applied to the output-norm sensitivity instead of the Fisher."""


def run(model: nn.Module, task: UnlearnTask, cfg: LFSSDConfig):
    return importance_run(model, task, cfg, "sensitivity")


METHOD = Method(
    name="lfssd",
    run=run,
    config=LFSSDConfig,
    summary="SSD with output-norm sensitivity as importance: needs no labels",
    citation="Foster et al., Loss-Free Machine Unlearning, ICLR 2024 Tiny Papers",
    needs_labels=False,
    needs_retain="yes (importance)",
    importance=("sensitivity",),
)
