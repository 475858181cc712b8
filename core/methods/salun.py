"""SalUn (Fan et al., "SalUn: Empowering Machine Unlearning via Gradient-based Weight Saliency", ICLR 2024).

As the authors' code computes it (OPTML-Group/Unlearn-Saliency, Classification/):
- Saliency (`generate_mask.py`, `save_gradient_ratio`): the model in eval mode, the gradient of the forget
  loss summed over Df's batches (each batch's mean cross-entropy, batch 256, the `--batch_size` default),
  in absolute value.
- Mask: the globally most salient fraction of weights, exactly int(fraction·N) of them (ranks below the
  threshold index); the README's example uses `with_0.5.pt`, 50%.
- Unlearning (`unlearn/RL.py`): random-label training with only the masked weights updated (the rest kept
  at their values), `model.train()` (BatchNorm on batch statistics; `batchnorm = "frozen"` keeps its
  running statistics). Df's labels are drawn afresh every epoch, uniformly over all classes (the true one
  included); for CIFAR-100 and TinyImageNet Df and Dr are shuffled together, for CIFAR-10 and SVHN a Df pass
  precedes a Dr pass: we shuffle them together on every dataset.
Optimiser and epochs are the DeepClean paper's protocol for its baselines (Adam, lr 1e-3, cosine, the
dataset's fine-tuning epochs, batch 64), not the reference's SGD (lr 0.013, momentum 0.9, weight decay 5e-4,
10 epochs in its README example). Every cross-entropy is the exact log-likelihood (`core.likelihood`;
`loss = "plain"` restores PyTorch's float32 form): numerics only.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.data import TensorDataset

from ..config import Config, param
from ..likelihood import cross_entropy
from ..runtime import iter_batches
from .base import Method, UnlearnTask
from .training import adam_cosine, batchnorm_option, concat, loss_option


@dataclass(frozen=True)
class SalUnConfig(Config):
    """SalUn's hyperparameters (the reference's saliency; the DeepClean paper's optimiser for the training)."""

    saliency_fraction: float = param(0.5, "fraction of weights (most salient to Df) that may change (the "
                                     "README's with_0.5 mask)", low=0, high=1, low_open=True)
    saliency_batch_size: int = param(256, "Df batch of the saliency gradient (the reference's --batch_size)", low=1)
    epochs: int | None = param(None, "epochs (empty: the dataset's fine-tuning epochs, as DeepClean's)", low=0)
    lr: float = param(1e-3, "Adam learning rate, cosine-annealed (DeepClean's fine-tuning)", low=0, low_open=True)
    batch_size: int = param(64, "mini-batch size (DeepClean's fine-tuning)", low=1)
    batchnorm: str = batchnorm_option("train", "RL.py calls model.train()")
    loss: str = loss_option()
    seed: int = param(0, "seed for the random labels and shuffling (ours)", low=0)


def saliency(model: nn.Module, task: UnlearnTask, batch_size: int, loss: str = "exact") -> dict[str, torch.Tensor]:
    """|Σ over Df's batches of ∇θ (batch mean cross-entropy)| per weight, in eval mode."""
    model.eval()
    model.zero_grad(set_to_none=True)
    for x, y in iter_batches(task.forget, batch_size):
        x, y = x.to(task.device), y.to(task.device)
        cross_entropy(model(x), y, form=loss).backward()
    grads = {k: p.grad.detach().abs() for k, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    return grads


def top_fraction_masks(scores: dict[str, torch.Tensor], fraction: float) -> dict[str, torch.Tensor]:
    """Masks of the globally highest-scoring int(fraction·N) entries (at least one)."""
    flat = torch.cat([s.flatten() for s in scores.values()])
    k = max(1, int(fraction * flat.numel()))
    chosen = torch.zeros(flat.numel(), dtype=torch.bool, device=flat.device)
    chosen[torch.topk(flat, k, sorted=False).indices] = True  # exactly k entries, even among ties at 0
    return {n: m.view_as(s) for (n, s), m in zip(scores.items(), chosen.split([s.numel() for s in scores.values()]))}


def fresh_labels(task: UnlearnTask, seed: int):
    """Epoch → Df with labels drawn uniformly over all classes (a new draw each epoch), stacked on Dr."""
    x, y = task.forget.tensors

    def epoch_data(epoch: int) -> TensorDataset:
        gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        labels = torch.randint(0, task.num_classes, y.shape, generator=gen, dtype=y.dtype)
        return concat(TensorDataset(x, labels), task.retain)

    return epoch_data


def run(model: nn.Module, task: UnlearnTask, cfg: SalUnConfig):
    epochs = cfg.epochs if cfg.epochs is not None else task.recipe.finetune_epochs
    task.progress("saliency", 0.0, "")
    masks = top_fraction_masks(saliency(model, task, cfg.saliency_batch_size, cfg.loss), cfg.saliency_fraction)
    task.progress("saliency", 1.0, "")
    losses = adam_cosine(model, fresh_labels(task, cfg.seed), epochs=epochs, lr=cfg.lr, batch_size=cfg.batch_size,
                         seed=cfg.seed, device=task.device, progress=task.progress, phase="random-label training",
                         masks=masks, bn_eval=cfg.batchnorm == "frozen", loss=cfg.loss)
    selected = sum(int(m.sum()) for m in masks.values())
    total = sum(m.numel() for m in masks.values())
    return model, {"epochs": epochs, "epoch_losses": losses, "weights_salient": selected,
                   "salient_fraction": selected / total}


METHOD = Method(
    name="salun",
    title="SalUn",
    run=run,
    config=SalUnConfig,
    summary="random-label training restricted to the weights most salient to Df",
    citation="Fan et al., SalUn, ICLR 2024",
)
