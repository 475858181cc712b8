"""The dataset registry: a name maps to its loader; adding a dataset is one module and one line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .. import paths
from . import cifar, digits, image_folder, mnist, npz
from .base import IMAGENET, IMAGENET_SIZE, Dataset, DataError, Normalisation, Recipe


@dataclass(frozen=True)
class DatasetEntry:
    """A registered dataset: how to load it and whether it reads a user's file."""

    load: Callable[..., Dataset]
    description: str
    user_file: bool = False
    noun: str = "class"  # what one class is called in sentences ("digit 0", "class cat")


DATASETS: dict[str, DatasetEntry] = {
    "digits": DatasetEntry(digits.load, digits.DESCRIPTION, noun="digit"),
    "mnist": DatasetEntry(mnist.load_mnist, "MNIST via torchvision, from DEEPCLEAN_DATA", noun="digit"),
    "fashion_mnist": DatasetEntry(mnist.load_fashion_mnist, "Fashion-MNIST via torchvision, from DEEPCLEAN_DATA"),
    "cifar10": DatasetEntry(cifar.load_cifar10, "CIFAR-10 via torchvision, from DEEPCLEAN_DATA"),
    "cifar100": DatasetEntry(cifar.load_cifar100, "CIFAR-100 via torchvision, from DEEPCLEAN_DATA"),
    "npz": DatasetEntry(npz.load, "your .npz: x uint8 N×H×W(×C), y int", user_file=True),
    "image_folder": DatasetEntry(image_folder.load, "your zip: one folder per class", user_file=True),
}


def class_noun(dataset: str) -> str:
    """What one class of a dataset is called in sentences ("digit", else "class")."""
    entry = DATASETS.get(dataset)
    return entry.noun if entry else "class"


def load_dataset(name: str, *, path: str | Path | None = None, root: str | Path | None = None,
                 download: bool = False) -> Dataset:
    """Load a registered dataset; `path` is the user's file for npz/image_folder, `root` the data folder."""
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")
    entry = DATASETS[name]
    if entry.user_file:
        if path is None:
            raise DataError(f"dataset {name!r} reads your file: pass its path (--data-path FILE)")
        if not Path(path).is_file():
            raise DataError(f"{path}: no such file")
        return entry.load(Path(path))
    return entry.load(Path(root) if root else paths.data_root(), download)


__all__ = ["DATASETS", "IMAGENET", "IMAGENET_SIZE", "Dataset", "DataError", "Normalisation", "Recipe", "class_noun",
           "load_dataset"]
