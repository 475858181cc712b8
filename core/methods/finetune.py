"""Fine-tune: continue training every weight on Dr (catastrophic forgetting), with DeepClean's optimiser and
epochs as the DeepClean paper runs this baseline ("Baselines Used"): Adam, lr 1e-3, cosine, batch 64.
BatchNorm trains in train mode, as fine-tuning does in every reference (e.g. the SSD repository's `finetune`).
The cross-entropy is the exact log-likelihood (`core.likelihood`; `loss = "plain"` restores PyTorch's form)."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ..config import Config, param
from .base import Method, UnlearnTask
from .training import adam_cosine, batchnorm_option, loss_option


@dataclass(frozen=True)
class FinetuneConfig(Config):
    """Fine-tuning on Dr (DeepClean's optimiser: Adam, cosine schedule)."""

    epochs: int | None = param(None, "epochs on Dr (empty: the dataset's fine-tuning epochs, as DeepClean's)", low=0)
    lr: float = param(1e-3, "Adam learning rate, cosine-annealed (DeepClean's fine-tuning)", low=0, low_open=True)
    batch_size: int = param(64, "mini-batch size (DeepClean's fine-tuning)", low=1)
    batchnorm: str = batchnorm_option("train", "as the references fine-tune")
    loss: str = loss_option()
    seed: int = param(0, "shuffling seed (ours)", low=0)


def run(model: nn.Module, task: UnlearnTask, cfg: FinetuneConfig):
    epochs = cfg.epochs if cfg.epochs is not None else task.recipe.finetune_epochs
    losses = adam_cosine(model, task.retain, epochs=epochs, lr=cfg.lr, batch_size=cfg.batch_size, seed=cfg.seed,
                         device=task.device, progress=task.progress, phase="fine-tuning",
                         bn_eval=cfg.batchnorm == "frozen", loss=cfg.loss)
    return model, {"epochs": epochs, "epoch_losses": losses}


METHOD = Method(
    name="finetune",
    title="Fine-tune",
    run=run,
    config=FinetuneConfig,
    summary="continue training all weights on Dr (Adam, cosine)",
    citation="DeepClean paper, 'Baselines Used'",
)
