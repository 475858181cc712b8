"""MNIST and Fashion-MNIST through torchvision, read from the data folder (IDX files)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torchvision import datasets as tvd

from .base import Dataset, DataError, Recipe, from_arrays

# The DeepClean paper's MNIST schedule: 10 epochs, decay at 4 and 8; fine-tune 1 epoch.
RECIPE = Recipe(epochs=10, milestones=(4, 8), lr_decay=0.1, finetune_epochs=1)


def _load(cls: type, name: str, root: Path, download: bool) -> Dataset:
    raw = Path(root) / cls.__name__ / "raw"
    try:
        train = cls(str(root), train=True, download=download)
        test = cls(str(root), train=False, download=download)
    except RuntimeError as e:
        expected = ", ".join(Path(url).name.removesuffix(".gz") for url, _ in cls.resources)
        how = "the download failed (no network?)" if download else "it is not there"
        raise DataError(
            f"{name}: {how}. Expected the IDX files {expected} in {raw}. Copy them there "
            f"(or point DEEPCLEAN_DATA at the folder that holds {cls.__name__}/), "
            f"or pass --download where the network allows. ({e})"
        ) from e
    return from_arrays(
        name,
        train.data.numpy().astype(np.uint8),
        train.targets.numpy(),
        test.data.numpy().astype(np.uint8),
        test.targets.numpy(),
        [str(c) for c in train.classes],
        RECIPE,
        str(raw),
    )


def load_mnist(root: Path, download: bool = False) -> Dataset:
    """MNIST: 60,000/10,000 28×28 grey digits."""
    return _load(tvd.MNIST, "mnist", root, download)


def load_fashion_mnist(root: Path, download: bool = False) -> Dataset:
    """Fashion-MNIST: 60,000/10,000 28×28 grey clothing images."""
    return _load(tvd.FashionMNIST, "fashion_mnist", root, download)
