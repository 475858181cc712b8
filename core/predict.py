"""What a checkpoint predicts: accuracy on its dataset's splits and per class, and predictions for chosen images."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from .cards import dataset_of, norm_of
from .checkpoint import load_checkpoint
from .data import Dataset
from .evaluate import outputs, per_class_accuracy
from .runtime import pick_device


def evaluate_checkpoint(path: str | Path, card: dict[str, Any] | None = None, *, device: str = "auto",
                        dataset: Dataset | None = None) -> dict[str, Any]:
    """Accuracy on train and test and per class of a checkpoint, on the dataset its card names."""
    model, card = load_checkpoint(path, card)
    dataset = dataset or dataset_of(card)
    dev = pick_device(device)
    model.to(dev)
    norm = norm_of(card)
    tr = outputs(model, dataset.tensors("train", norm=norm), device=dev)
    te = outputs(model, dataset.tensors("test", norm=norm), device=dev)
    return {
        "checkpoint": str(path), "sha256": card["sha256"], "dataset": card["dataset"],
        "architecture": card["architecture"], "acc_train": tr.accuracy, "acc_test": te.accuracy,
        "input_transform": norm.describe(tuple(dataset.input_shape)),
        "per_class_test": dict(zip(dataset.classes, per_class_accuracy(te, dataset.num_classes))),
        "per_class_train": dict(zip(dataset.classes, per_class_accuracy(tr, dataset.num_classes))),
    }


def predictions(model: nn.Module, card: dict[str, Any], ds: Dataset, split: str, indices) -> np.ndarray:
    """The model's predicted class for some images of a split (CPU, eval mode, no gradients)."""
    return outputs(model, ds.tensors(split, np.asarray(indices), norm_of(card)), device="cpu").preds
