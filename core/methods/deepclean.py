"""DeepClean: reset the weights whose Fisher ratio I_Df / I_Dr exceeds γ, then fine-tune only them on Dr.

Seed paper: "DeepClean: Machine Unlearning on the Cheap by Resetting Privacy Sensitive Weights using the
Fisher Diagonal" (mechanics and the paper's defaults in `fisher_reset.py`). γ may be a number, empty (the
paper's 2.0 for classes, 1.1 for samples), or "auto": the product chooses it (`gamma_search.py`).
"""

from __future__ import annotations

from typing import Sequence

from torch import nn

from .base import Method, Sweep, UnlearnTask
from .fisher_reset import (GAMMA_GRID, GAMMA_RANGE, GAMMA_SWEEP, DeepCleanConfig, default_gamma, finetune_epochs,
                           finetune_selected, gamma_curve, importances, reset, selection, selection_info)
from .gamma_search import search


def reset_and_finetune(model: nn.Module, task: UnlearnTask, cfg: DeepCleanConfig, finetune: bool):
    """Steps 2–3 of DeepClean; `finetune=False` is the paper's "zero weights" ablation; γ 'auto' searches."""
    if cfg.gamma == "auto":
        return search(model, task, cfg, finetune)
    gamma = cfg.gamma if cfg.gamma is not None else default_gamma(task.forget_kind)
    i_f, i_r = importances(model, task, cfg)
    task.progress("masking", 0.0, f"γ = {gamma}")
    masks = selection(i_f, i_r, gamma)
    reset(model, masks)
    task.progress("masking", 1.0, "")
    info = selection_info(gamma, masks)
    epochs = finetune_epochs(task, cfg)
    losses = finetune_selected(model, task, cfg, masks, epochs) if finetune and info["weights_reset"] else []
    return model, {**info, "finetune_epochs": epochs if finetune else 0, "epoch_losses": losses}


def curve(model: nn.Module, task: UnlearnTask, cfg: DeepCleanConfig, gammas: Sequence[float]) -> list[dict]:
    """The γ-curve of the original model on this task, from its (shared) Fisher passes."""
    return gamma_curve(*importances(model, task, cfg), gammas)


def run(model: nn.Module, task: UnlearnTask, cfg: DeepCleanConfig):
    return reset_and_finetune(model, task, cfg, finetune=True)


# γ is what DeepClean is tuned by; zero weights shares it.
GAMMA = Sweep(option="gamma", label="threshold γ", low=GAMMA_RANGE[0], high=GAMMA_RANGE[1], values=GAMMA_SWEEP,
              default=default_gamma, curve=curve, grid=GAMMA_GRID)

METHOD = Method(
    name="deepclean",
    title="DeepClean",
    run=run,
    config=DeepCleanConfig,
    summary="reset weights with I_Df/I_Dr > γ, fine-tune only them on Dr",
    citation="DeepClean (seed paper), Eq. 1–2",
    needs_labels=True,
    needs_retain="yes",
    importance=("fisher",),
    sweep=GAMMA,
)
