"""Fine-tune: continue training every weight on Dr with DeepClean's optimiser and epochs (catastrophic forgetting)."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ..config import Config, param
from .base import Method, UnlearnTask
from .training import adam_cosine


@dataclass(frozen=True)
class FinetuneConfig(Config):
    """Fine-tuning on Dr (DeepClean's optimiser: Adam, cosine schedule)."""

    epochs: int | None = param(None, "epochs on Dr (empty: the dataset's fine-tuning epochs)", low=0)
    lr: float = param(1e-3, "Adam learning rate (cosine-annealed)", low=0, low_open=True)
    batch_size: int = param(64, "mini-batch size", low=1)
    seed: int = param(0, "shuffling seed", low=0)


def run(model: nn.Module, task: UnlearnTask, cfg: FinetuneConfig):
    epochs = cfg.epochs if cfg.epochs is not None else task.recipe.finetune_epochs
    losses = adam_cosine(model, task.retain, epochs=epochs, lr=cfg.lr, batch_size=cfg.batch_size, seed=cfg.seed,
                         device=task.device, progress=task.progress, phase="fine-tuning", bn_eval=False)
    return model, {"epochs": epochs, "epoch_losses": losses}


METHOD = Method(
    name="finetune",
    run=run,
    config=FinetuneConfig,
    summary="continue training all weights on Dr (Adam, cosine)",
    citation="DeepClean paper, 'Baselines Used'",
)
