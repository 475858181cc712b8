"""Loss-Free SSD (Foster, Schoepf, Brintrup, "Loss-Free Machine Unlearning", ICLR 2024 Tiny Papers).

SSD with the importance replaced by the sensitivity of the output's l2 norm: the mean squared
per-sample gradient of ||f(x)||², so no labels are used anywhere. Selection and dampening as SSD's,
with the same reference defaults (α = 10, λ = 1) and the same choice of reference set (see `ssd.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ..config import param
from .base import Method, UnlearnTask
from .ssd import importance_run


@dataclass(frozen=True)
class LFSSDConfig:
    """Loss-Free SSD's hyperparameters (the reference code's defaults)."""

    alpha: float = param(10.0, "selection α: dampen weights with S_Df > α·S_D")
    reference: str = param("retain", "S_D taken over 'retain' (Dr) or 'train' (Dr ∪ Df, the paper's; see ssd.py)")
    dampening: float = param(1.0, "dampening λ: β = min(λ·S_D/S_Df, 1)")
    fisher_batch_size: int = param(128, "batch size of the sensitivity passes (memory, not result)")
    retain_samples: int | None = param(None, "Dr samples the sensitivity uses (empty: all of Dr)")
    seed: int = param(0, "seed for the Dr sample")


def run(model: nn.Module, task: UnlearnTask, cfg: LFSSDConfig):
    return importance_run(model, task, cfg, "sensitivity")


METHOD = Method(
    name="lfssd",
    run=run,
    config=LFSSDConfig,
    summary="SSD with output-norm sensitivity as importance: needs no labels",
    needs_labels=False,
    needs_retain="yes (importance)",
    citation="Foster et al., Loss-Free Machine Unlearning, ICLR 2024 Tiny Papers",
)
