"""ℓ1-sparse unlearning (Jia et al., "Model Sparsity Can Simplify Machine Unlearning", NeurIPS 2023).

Fine-tune on Dr with an ℓ1 penalty γ_t·‖θ‖₁ whose weight decays linearly to 0 over the run (the
reference code's schedule), pushing weights Df relied on toward zero. The paper uses SGD for 10 epochs;
as the DeepClean paper runs its baselines, we use DeepClean's optimiser and epochs (Adam, cosine).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ..config import Config, param
from .base import Method, UnlearnTask
from .training import adam_cosine


@dataclass(frozen=True)
class L1SparseConfig(Config):
    """ℓ1-sparse fine-tuning's hyperparameters (the reference code's ℓ1 weight)."""

    l1: float = param(5e-4, "initial ℓ1 weight γ, decayed linearly to 0", low=0)
    epochs: int | None = param(None, "epochs on Dr (empty: the dataset's fine-tuning epochs)", low=0)
    lr: float = param(1e-3, "Adam learning rate (cosine-annealed)", low=0, low_open=True)
    batch_size: int = param(64, "mini-batch size", low=1)
    seed: int = param(0, "shuffling seed", low=0)


def run(model: nn.Module, task: UnlearnTask, cfg: L1SparseConfig):
    epochs = cfg.epochs if cfg.epochs is not None else task.recipe.finetune_epochs

    def penalty(m: nn.Module, done: float):
        return cfg.l1 * (1.0 - done) * sum(p.abs().sum() for p in m.parameters())

    losses = adam_cosine(model, task.retain, epochs=epochs, lr=cfg.lr, batch_size=cfg.batch_size, seed=cfg.seed,
                         device=task.device, progress=task.progress, phase="sparse fine-tuning", bn_eval=False,
                         penalty=penalty)
    return model, {"epochs": epochs, "epoch_losses": losses}


METHOD = Method(
    name="l1_sparse",
    run=run,
    config=L1SparseConfig,
    summary="fine-tune on Dr with a decaying ℓ1 penalty on the weights",
    citation="Jia et al., Model Sparsity Can Simplify Machine Unlearning, NeurIPS 2023",
)
