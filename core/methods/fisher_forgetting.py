"""Fisher forgetting (Golatkar, Achille, Soatto, "Eternal Sunshine of the Spotless Net", CVPR 2020).

Adds Gaussian noise with variance α/I_Dr per weight (clamped), so weights the retain set does not pin
down are scrambled: θ ← μ + sqrt(σ²)·ε. As in the SSD repository's version of it: σ² = α·min(1/(I+1e-8),
1e3) (1e2 for the classifier head), averaged over each row of a weight matrix, ×10 for the head and for
1-D parameters; for class forgetting the head's rows of the forgotten classes get μ = 0, σ² = 1e-4.
Approximation: the paper uses the true Fisher (labels sampled from the model); we use the shared empirical
Fisher diagonal on Dr, which equals it where the model is confident, and costs nothing extra in a comparison.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..config import Config, param
from .base import Method, UnlearnTask
from .training import last_linear


@dataclass(frozen=True)
class FisherForgettingConfig(Config):
    """Fisher forgetting's hyperparameters (the SSD repository's defaults)."""

    alpha: float = param(1e-6, "noise scale α: variance α/I_Dr", low=0)
    max_variance: float = param(1e3, "clamp of 1/I_Dr for hidden weights", low=0, low_open=True)
    max_variance_head: float = param(1e2, "clamp of 1/I_Dr for the classifier head", low=0, low_open=True)
    boost: float = param(10.0, "variance factor for the head and 1-D parameters", low=0)
    forgotten_row_variance: float = param(1e-4, "variance of the forgotten classes' head rows (mean 0)", low=0)
    fisher_batch_size: int = param(128, "batch size of the Fisher pass (memory, not result)", low=1)
    retain_samples: int | None = param(None, "Dr samples the Fisher uses (empty: all of Dr)", low=1)
    seed: int = param(0, "seed for the Dr sample and the noise", low=0)


def run(model: nn.Module, task: UnlearnTask, cfg: FisherForgettingConfig):
    i_r = task.importance.get("fisher", model, task.retain, which="retain", max_samples=cfg.retain_samples,
                              batch_size=cfg.fisher_batch_size, seed=cfg.seed, device=task.device,
                              progress=task.progress, phase="Fisher on Dr")
    head = last_linear(model)
    head_params = {id(head.weight), id(head.bias) if head.bias is not None else None}
    gen = torch.Generator().manual_seed(cfg.seed)
    task.progress("noise", 0.0, "")
    with torch.no_grad():
        for n, p in model.named_parameters():
            is_head = id(p) in head_params
            var = torch.clamp(1.0 / (i_r[n] + 1e-8), max=cfg.max_variance_head if is_head else cfg.max_variance)
            var = cfg.alpha * var
            if p.ndim > 1:
                var = var.flatten(1).mean(1).view(-1, *([1] * (p.ndim - 1))).expand_as(p).clone()
            mu = p.detach().clone()
            if is_head and task.forget_classes:
                rows = list(task.forget_classes)
                mu[rows] = 0.0
                var[rows] = cfg.forgotten_row_variance
            if is_head or p.ndim == 1:
                var = var * cfg.boost
            eps = torch.randn(p.shape, generator=gen).to(p.device)
            p.copy_(mu + var.sqrt() * eps)
    task.progress("noise", 1.0, "")
    return model, {"alpha": cfg.alpha, "steps": 0}


METHOD = Method(
    name="fisher_forgetting",
    run=run,
    config=FisherForgettingConfig,
    summary="scramble weights with noise of variance α/I_Dr (Fisher diagonal on Dr)",
    citation="Golatkar et al., Eternal Sunshine of the Spotless Net, CVPR 2020",
    importance=("fisher",),
)
