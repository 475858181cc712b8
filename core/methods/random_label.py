"""Random labels / amnesiac unlearning (Graves, Nagisetty, Ganesh, "Amnesiac Machine Learning", AAAI 2021).

Train on Df relabelled with random wrong classes together with Dr, so the model unlearns its answers on
Df while Dr holds the rest in place. The SSD repository's version (`amnesiac` in
src/forget_full_class_strategies.py) draws each Df label once from the other classes, shuffles Df and Dr
together (batch 128) and trains 3 epochs with Adam, lr 1e-4, in train mode (`fit_one_unlearning_cycle`).
As the DeepClean paper runs its baselines, we use DeepClean's optimiser and epochs (Adam, lr 1e-3, cosine,
batch 64); BatchNorm in train mode as the reference. The cross-entropy is the exact log-likelihood
(`core.likelihood`; `loss = "plain"` restores PyTorch's form).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ..config import Config, param
from .base import Method, UnlearnTask
from .training import adam_cosine, batchnorm_option, concat, loss_option, random_other_labels


@dataclass(frozen=True)
class RandomLabelConfig(Config):
    """Random-label training on Df ∪ Dr (the DeepClean paper's optimiser)."""

    epochs: int | None = param(None, "epochs (empty: the dataset's fine-tuning epochs, as DeepClean's)", low=0)
    lr: float = param(1e-3, "Adam learning rate, cosine-annealed (DeepClean's fine-tuning)", low=0, low_open=True)
    batch_size: int = param(64, "mini-batch size (DeepClean's fine-tuning)", low=1)
    batchnorm: str = batchnorm_option("train", "the SSD repository's amnesiac trains in train mode")
    loss: str = loss_option()
    seed: int = param(0, "seed for the random labels and shuffling (ours)", low=0)


def relabelled_data(task: UnlearnTask, seed: int):
    """Df with random other labels, stacked on Dr."""
    return concat(random_other_labels(task.forget, task.num_classes, seed), task.retain)


def run(model: nn.Module, task: UnlearnTask, cfg: RandomLabelConfig):
    epochs = cfg.epochs if cfg.epochs is not None else task.recipe.finetune_epochs
    losses = adam_cosine(model, relabelled_data(task, cfg.seed), epochs=epochs, lr=cfg.lr, batch_size=cfg.batch_size,
                         seed=cfg.seed, device=task.device, progress=task.progress, phase="random-label training",
                         bn_eval=cfg.batchnorm == "frozen", loss=cfg.loss)
    return model, {"epochs": epochs, "epoch_losses": losses}


METHOD = Method(
    name="random_label",
    title="Random labels",
    run=run,
    config=RandomLabelConfig,
    summary="train on Df with random wrong labels, together with Dr",
    citation="Graves et al., Amnesiac Machine Learning, AAAI 2021",
)
