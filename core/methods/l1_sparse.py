"""ℓ1-sparse unlearning (Jia et al., "Model Sparsity Can Simplify Machine Unlearning", NeurIPS 2023).

Fine-tune on Dr with an ℓ1 penalty γ_t·‖θ‖₁ whose weight decays linearly to 0, pushing weights Df relied on
toward zero. The schedule is the reference code's (OPTML-Group/Unlearn-Sparse `unlearn/FT.py`, `FT_l1`):
γ_t = γ·(1 − epoch/epochs), constant within an epoch. The weight γ itself has no default there: `--alpha`
(default 0.2, "unlearn noise", shared with Fisher forgetting) is passed as `${alpha}` in the README's
ℓ1-sparse command; our 5e-4 is ours. The reference fine-tunes with SGD (README: lr 0.01, 10 epochs;
arg_parser: momentum 0.9, weight decay 5e-4, batch 256) in train mode; as the DeepClean paper runs its
baselines, we use DeepClean's optimiser and epochs (Adam, lr 1e-3, cosine, batch 64), BatchNorm in train
mode as the reference. The cross-entropy is the exact log-likelihood (`core.likelihood`; `loss = "plain"`
restores PyTorch's form).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ..config import Config, param
from .base import Method, UnlearnTask
from .training import adam_cosine, batchnorm_option, loss_option


@dataclass(frozen=True)
class L1SparseConfig(Config):
    """ℓ1-sparse fine-tuning's hyperparameters (the reference's schedule; the weight and optimiser are ours)."""

    l1: float = param(5e-4, "initial ℓ1 weight γ, decayed linearly to 0 over the epochs (ours: the reference has "
                      "no default)", low=0)
    epochs: int | None = param(None, "epochs on Dr (empty: the dataset's fine-tuning epochs, as DeepClean's)", low=0)
    lr: float = param(1e-3, "Adam learning rate, cosine-annealed (DeepClean's fine-tuning)", low=0, low_open=True)
    batch_size: int = param(64, "mini-batch size (DeepClean's fine-tuning)", low=1)
    batchnorm: str = batchnorm_option("train", "FT_l1 calls model.train()")
    loss: str = loss_option()
    seed: int = param(0, "shuffling seed (ours)", low=0)


def run(model: nn.Module, task: UnlearnTask, cfg: L1SparseConfig):
    epochs = cfg.epochs if cfg.epochs is not None else task.recipe.finetune_epochs

    def penalty(m: nn.Module, epoch: int):
        return cfg.l1 * (1.0 - epoch / epochs) * sum(p.abs().sum() for p in m.parameters())

    losses = adam_cosine(model, task.retain, epochs=epochs, lr=cfg.lr, batch_size=cfg.batch_size, seed=cfg.seed,
                         device=task.device, progress=task.progress, phase="sparse fine-tuning",
                         bn_eval=cfg.batchnorm == "frozen", penalty=penalty, loss=cfg.loss)
    return model, {"epochs": epochs, "epoch_losses": losses}


METHOD = Method(
    name="l1_sparse",
    title="ℓ1-sparse",
    run=run,
    config=L1SparseConfig,
    summary="fine-tune on Dr with a decaying ℓ1 penalty on the weights",
    citation="Jia et al., Model Sparsity Can Simplify Machine Unlearning, NeurIPS 2023",
)
