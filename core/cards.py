"""Model cards: what a checkpoint is (architecture, dataset, input, normalisation), and what follows from one."""

from __future__ import annotations

from typing import Any

import torch

from .data import Dataset, Normalisation, load_dataset
from .models import build_model


def card_for(architecture: str, dataset: Dataset, data_path: str | None = None) -> dict[str, Any]:
    """A model card for a bare checkpoint (no card beside it), from its architecture and dataset."""
    n = dataset.normalisation()
    return {"architecture": architecture, "dataset": dataset.name, "data_path": data_path,
            "num_classes": dataset.num_classes, "classes": dataset.classes, "input_shape": list(dataset.input_shape),
            "normalisation": {"mean": list(n.mean), "std": list(n.std)}}


def dataset_of(card: dict[str, Any]) -> Dataset:
    """Load the dataset a model card names (its file, for a user's own data)."""
    return load_dataset(card["dataset"], path=card.get("data_path"))


def norm_of(card: dict[str, Any]) -> Normalisation:
    """The input normalisation a card records."""
    return Normalisation(tuple(card["normalisation"]["mean"]), tuple(card["normalisation"]["std"]))


def fresh_model(card: dict[str, Any], seed: int) -> torch.nn.Module:
    """An untrained model of the card's architecture, initialised under `seed`."""
    torch.manual_seed(seed)
    return build_model(card["architecture"], card["input_shape"], card["num_classes"], **card.get("model_kwargs", {}))
