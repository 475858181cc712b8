"""Random labels / amnesiac unlearning (Graves, Nagisetty, Ganesh, "Amnesiac Machine Learning", AAAI 2021).

Train on Df relabelled with random wrong classes together with Dr, so the model unlearns its answers on
Df while Dr holds the rest in place; DeepClean's optimiser and epochs (Adam, cosine), as the DeepClean
paper runs its baselines.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ..config import Config, param
from .base import Method, UnlearnTask
from .training import adam_cosine, concat, random_other_labels


@dataclass(frozen=True)
class RandomLabelConfig(Config):
    """Random-label training on Df ∪ Dr."""

    epochs: int | None = param(None, "epochs (empty: the dataset's fine-tuning epochs)", low=0)
    lr: float = param(1e-3, "Adam learning rate (cosine-annealed)", low=0, low_open=True)
    batch_size: int = param(64, "mini-batch size", low=1)
    seed: int = param(0, "seed for the random labels and shuffling", low=0)


def relabelled_data(task: UnlearnTask, seed: int):
    """Df with random other labels, stacked on Dr."""
    return concat(random_other_labels(task.forget, task.num_classes, seed), task.retain)


def run(model: nn.Module, task: UnlearnTask, cfg: RandomLabelConfig):
    epochs = cfg.epochs if cfg.epochs is not None else task.recipe.finetune_epochs
    losses = adam_cosine(model, relabelled_data(task, cfg.seed), epochs=epochs, lr=cfg.lr, batch_size=cfg.batch_size,
                         seed=cfg.seed, device=task.device, progress=task.progress, phase="random-label training",
                         bn_eval=False)
    return model, {"epochs": epochs, "epoch_losses": losses}


METHOD = Method(
    name="random_label",
    run=run,
    config=RandomLabelConfig,
    summary="train on Df with random wrong labels, together with Dr",
    citation="Graves et al., Amnesiac Machine Learning, AAAI 2021",
)
