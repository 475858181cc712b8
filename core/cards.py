"""Model cards: what a checkpoint is (architecture, dataset, input, normalisation), and what follows from one."""

from __future__ import annotations

from typing import Any

import torch

from .data import Dataset, Normalisation, load_dataset
from .data.base import IMAGENET, IMAGENET_SIZE
from .models import TORCHVISION_PREFIX, build_model

# How a bare checkpoint's inputs are prepared: from its dataset's own statistics and shape (our architectures,
# trained on it as it is), or as torchvision's pretrained classifiers expect (ImageNet's statistics, 224×224,
# three channels) — the usual starting point of a fine-tuned torchvision model.
INPUT_PRESETS = ("dataset", "imagenet")


def default_preset(architecture: str) -> str:
    return "imagenet" if architecture.startswith(TORCHVISION_PREFIX) else "dataset"


def card_for(architecture: str, dataset: Dataset, data_path: str | None = None, *, preset: str | None = None,
             size: int | None = None) -> dict[str, Any]:
    """A model card for a bare checkpoint (no card beside it), from its architecture and dataset, and how its
    inputs are prepared: `preset` "dataset" (the dataset's statistics and shape) or "imagenet" (torchvision's
    statistics, three channels), `size` a square side to resize to (default: the preset's)."""
    preset = preset or default_preset(architecture)
    if preset not in INPUT_PRESETS:
        raise ValueError(f"input preset must be one of {', '.join(INPUT_PRESETS)}; got {preset!r}")
    c, h, w = dataset.input_shape
    if preset == "imagenet":
        n, shape = IMAGENET, [3, *((size, size) if size else IMAGENET_SIZE)]
    else:
        n, shape = dataset.normalisation(), [c, *((size, size) if size else (h, w))]
    card = {"architecture": architecture, "dataset": dataset.name, "data_path": data_path,
            "num_classes": dataset.num_classes, "classes": dataset.classes, "input_shape": shape,
            "normalisation": {"mean": list(n.mean), "std": list(n.std)}}
    card["input_transform"] = norm_of(card).describe(tuple(dataset.input_shape))
    return card


def dataset_of(card: dict[str, Any]) -> Dataset:
    """Load the dataset a model card names (its file, for a user's own data)."""
    return load_dataset(card["dataset"], path=card.get("data_path"))


def norm_of(card: dict[str, Any]) -> Normalisation:
    """The input transform a card records: its normalisation, and its input shape as the target size and
    channels (grey images repeated, images resized where the dataset's differ)."""
    return Normalisation.from_card(card)


def fresh_model(card: dict[str, Any], seed: int) -> torch.nn.Module:
    """An untrained model of the card's architecture, initialised under `seed`."""
    torch.manual_seed(seed)
    return build_model(card["architecture"], card["input_shape"], card["num_classes"], **card.get("model_kwargs", {}))
