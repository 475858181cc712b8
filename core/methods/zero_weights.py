"""The DeepClean paper's "zero weights" ablation: reset the selected weights and stop (no fine-tuning)."""

from __future__ import annotations

from torch import nn

from .base import Method, UnlearnTask
from .deepclean import GAMMA, DeepCleanConfig, reset_and_finetune


def run(model: nn.Module, task: UnlearnTask, cfg: DeepCleanConfig):
    return reset_and_finetune(model, task, cfg, finetune=False)


METHOD = Method(
    name="zero_weights",
    title="Zero weights (ours)",
    run=run,
    config=DeepCleanConfig,
    summary="DeepClean's selection, weights set to 0, no fine-tuning (ablation)",
    citation="DeepClean (seed paper), ablation",
    needs_retain="yes (Fisher only)",
    importance=("fisher",),
    sweep=GAMMA,
)
