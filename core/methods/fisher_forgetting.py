"""Fisher forgetting (Golatkar, Achille, Soatto, "Eternal Sunshine of the Spotless Net", CVPR 2020).

Adds Gaussian noise with variance α/I_Dr per weight (clamped), so weights the retain set does not pin
down are scrambled: θ ← μ + sqrt(σ²)·ε. As the SSD repository's version of the authors' code computes it
(if-loops/selective-synaptic-dampening `src/forget_full_class_strategies.py` and
`src/forget_random_strategies.py`, `FisherForgetting`, "From https://github.com/AdityaGolatkar/SelectiveForgetting"):

- I_Dr is the *true* Fisher diagonal on Dr (`hessian`): per sample, Σ_y p(y|x)·(∂ log p(y|x)/∂θ)², averaged
  over Dr, in eval mode. We compute it exactly with one per-sample pass per class (`core.fisher`), the
  log-likelihood in its exact form (`core.likelihood`).
- σ² = α·min(1/(I + 1e-8), 1e3), with the clamp 1e2 on the classifier head (α = 1e-6, the repository's);
  then for every tensor of 2 or more dimensions averaged over its input channels only (`var.mean(dim=1)`:
  a conv kernel keeps one variance per output channel and kernel position).
- Class forgetting: the head's rows of the forgotten classes get μ = 0, σ² = 1e-4, and the head's variance
  is ×10, as is every other 1-D parameter's (BatchNorm). Random forgetting: no row is zeroed and only 1-D
  parameters (the head's bias included) are ×10.

The head is the last nn.Linear; the reference recognises it as any tensor whose first dimension is the class
count, which is the same tensors on every architecture we ship. `fisher = "empirical"` (ours) uses the
empirical Fisher on the true labels instead, the per-sample pass DeepClean shares: about one class count
cheaper, and equal to the true Fisher where the model is confident.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

from ..config import Config, param
from ..fisher import squared_grad_mean
from ..likelihood import log_likelihood
from ..runtime import Progress, no_progress
from .base import Method, UnlearnTask
from .training import last_linear


@dataclass(frozen=True)
class FisherForgettingConfig(Config):
    """Fisher forgetting's hyperparameters (the SSD repository's FisherForgetting)."""

    alpha: float = param(1e-6, "noise scale α: variance α/I_Dr (the SSD repository's alpha)", low=0)
    max_variance: float = param(1e3, "clamp of 1/I_Dr for hidden weights (the reference's)", low=0, low_open=True)
    max_variance_head: float = param(1e2, "clamp of 1/I_Dr for the classifier head (the reference's)", low=0,
                                     low_open=True)
    boost: float = param(10.0, "variance factor: the head (classes) and 1-D parameters (the reference's ×10)",
                         low=0)
    forgotten_row_variance: float = param(1e-4, "variance of the forgotten classes' head rows, mean 0 (the "
                                          "reference's)", low=0)
    fisher: str = param("true", "'true' Fisher Σ_y p(y|x)(∇ log p(y|x))² (the reference's) or 'empirical' on the "
                        "true labels (ours: the pass DeepClean shares, one class count cheaper)",
                        choices=("true", "empirical"))
    fisher_batch_size: int = param(128, "batch size of the Fisher passes (memory, not result)", low=1)
    retain_samples: int | None = param(None, "Dr samples the Fisher uses (empty: all of Dr, as the reference)",
                                       low=1)
    seed: int = param(0, "seed for the Dr sample and the noise (ours)", low=0)


def true_fisher_diagonal(model: nn.Module, data: TensorDataset, *, batch_size: int, max_samples: int | None = None,
                         seed: int = 0, device: torch.device | str | None = None, progress: Progress = no_progress,
                         phase: str = "true Fisher") -> dict[str, torch.Tensor]:
    """Mean over `data` of Σ_y p(y|x)·(∂ log p(y|x)/∂θ)², exact per sample: one pass per class y, each the
    squared per-sample gradient of sqrt(p_y)·log p_y with the weight sqrt(p_y) held fixed."""
    dev = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    with torch.no_grad():
        num_classes = int(model(data.tensors[0][:1].to(dev)).shape[1])
    model.train(was_training)
    total: dict[str, torch.Tensor] = {}
    for cls in range(num_classes):
        def objective(out: torch.Tensor, _labels: torch.Tensor | None, cls: int = cls) -> torch.Tensor:
            target = torch.full((len(out),), cls, dtype=torch.long, device=out.device)
            return F.softmax(out.detach(), dim=1)[:, cls].sqrt() * log_likelihood(out, target)

        def report(_phase: str, fraction: float, message: str = "", cls: int = cls) -> None:
            progress(phase, (cls + fraction) / num_classes, f"class {cls + 1}/{num_classes}: {message}")

        part = squared_grad_mean(model, data, objective, batch_size=batch_size, max_samples=max_samples, seed=seed,
                                 device=dev, progress=report, phase=phase)
        for k, v in part.items():
            total[k] = total[k] + v if k in total else v
    return total


def run(model: nn.Module, task: UnlearnTask, cfg: FisherForgettingConfig):
    common = dict(max_samples=cfg.retain_samples, batch_size=cfg.fisher_batch_size, seed=cfg.seed,
                  device=task.device, progress=task.progress)
    if cfg.fisher == "true":
        i_r = task.importance.get("true-fisher", model, task.retain, which="retain", phase="true Fisher on Dr",
                                  compute=true_fisher_diagonal, **common)
    else:
        i_r = task.importance.get("fisher", model, task.retain, which="retain", phase="Fisher on Dr", **common)
    head = last_linear(model)
    head_params = {id(head.weight), id(head.bias) if head.bias is not None else None}
    classes = task.forget_kind == "classes"
    gen = torch.Generator().manual_seed(cfg.seed)
    task.progress("noise", 0.0, "")
    with torch.no_grad():
        for n, p in model.named_parameters():
            is_head = id(p) in head_params
            var = torch.clamp(1.0 / (i_r[n] + 1e-8), max=cfg.max_variance)
            if is_head:
                var = torch.clamp(var, max=cfg.max_variance_head)
            var = cfg.alpha * var
            if p.ndim > 1:  # over input channels only: (O, C, k, k) -> one variance per (O, k, k)
                var = var.mean(dim=1, keepdim=True).expand_as(p).clone()
            mu = p.detach().clone()
            if is_head and classes:
                rows = list(task.forget_classes)
                mu[rows] = 0.0
                var[rows] = cfg.forgotten_row_variance
            if (is_head and classes) or p.ndim == 1:
                var = var * cfg.boost
            eps = torch.randn(p.shape, generator=gen, dtype=p.dtype).to(p.device)
            p.copy_(mu + var.sqrt() * eps)
    task.progress("noise", 1.0, "")
    return model, {"alpha": cfg.alpha, "fisher": cfg.fisher, "steps": 0}


METHOD = Method(
    name="fisher_forgetting",
    title="Fisher forgetting",
    run=run,
    config=FisherForgettingConfig,
    summary="scramble weights with noise of variance α/I_Dr (the true Fisher diagonal on Dr)",
    citation="Golatkar et al., Eternal Sunshine of the Spotless Net, CVPR 2020",
    importance=("true-fisher",),
)
