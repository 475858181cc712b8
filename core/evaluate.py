"""Evaluation: predictions, softmax outputs and per-sample losses in batches; accuracy per set and class."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

from .likelihood import nll
from .runtime import iter_batches

EVAL_BATCH = 512


@dataclass
class Outputs:
    """A model's softmax probabilities, predictions and per-sample cross-entropy on a set, with labels."""

    probs: np.ndarray
    preds: np.ndarray
    losses: np.ndarray
    labels: np.ndarray

    @property
    def accuracy(self) -> float:
        return float((self.preds == self.labels).mean()) if len(self.labels) else float("nan")


@torch.no_grad()
def outputs(model: nn.Module, data: TensorDataset, *, device: torch.device | str = "cpu",
            batch_size: int = EVAL_BATCH) -> Outputs:
    """Run `model` in eval mode over `data` in batches."""
    model.eval()
    device = torch.device(device)
    probs, losses = [], []
    for x, y in iter_batches(data, batch_size):
        logits = model(x.to(device)).float()
        probs.append(F.softmax(logits, 1).cpu())
        losses.append(nll(logits, y.to(device)).cpu())
    p = torch.cat(probs).numpy() if probs else np.zeros((0, 0), dtype=np.float32)
    return Outputs(p, p.argmax(1) if len(p) else np.zeros(0, dtype=np.int64),
                   torch.cat(losses).numpy() if losses else np.zeros(0), data.tensors[1].numpy())


def per_class_accuracy(out: Outputs, num_classes: int) -> list[float | None]:
    """Accuracy for each class present in the labels (None for a class absent from the set)."""
    acc: list[float | None] = []
    for c in range(num_classes):
        m = out.labels == c
        acc.append(float((out.preds[m] == c).mean()) if m.any() else None)
    return acc


def accuracy(model: nn.Module, data: TensorDataset, *, device: torch.device | str = "cpu") -> float:
    """Top-1 accuracy of `model` on `data`."""
    return outputs(model, data, device=device).accuracy
