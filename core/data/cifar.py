"""CIFAR-10 and CIFAR-100 through torchvision, read from the data folder (pickled batches)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torchvision import datasets as tvd

from .base import Dataset, DataError, Recipe, from_arrays

# The DeepClean paper's schedules (SPEC "Training recipe"); fine-tune 3 epochs on CIFAR.
RECIPE_10 = Recipe(epochs=20, milestones=(6, 12, 16), lr_decay=0.2, finetune_epochs=3)
RECIPE_100 = Recipe(epochs=200, milestones=(60, 120, 160), lr_decay=0.2, finetune_epochs=3)


def _existence_only(cls: type) -> type:
    """The same torchvision class, checking that the files exist rather than their md5.

    torchvision verifies md5 sums on every load; the checksums still guard downloads (the
    archive's md5), while a folder prepared by hand in the real format loads as it is.
    """
    return type(
        cls.__name__,
        (cls,),
        {
            "train_list": [[f, None] for f, _ in cls.train_list],
            "test_list": [[f, None] for f, _ in cls.test_list],
            "meta": {**cls.meta, "md5": None},
        },
    )


def _load(cls: type, name: str, root: Path, download: bool, recipe: Recipe) -> Dataset:
    folder = Path(root) / cls.base_folder
    use = cls if download else _existence_only(cls)
    try:
        train = use(str(root), train=True, download=download)
        test = use(str(root), train=False, download=download)
    except (RuntimeError, OSError, KeyError, ValueError) as e:
        files = [f for f, _ in cls.train_list + cls.test_list] + [cls.meta["filename"]]
        how = "the download failed (no network?)" if download else "it is missing or unreadable"
        raise DataError(
            f"{name}: {how}. Expected the python-version batches {', '.join(files)} in {folder}. "
            f"Unpack {cls.filename} into {root} (or point DEEPCLEAN_DATA at the folder that holds "
            f"{cls.base_folder}/), or pass --download where the network allows. ({e})"
        ) from e
    return from_arrays(
        name,
        np.asarray(train.data, dtype=np.uint8),
        np.asarray(train.targets),
        np.asarray(test.data, dtype=np.uint8),
        np.asarray(test.targets),
        [str(c) for c in train.classes],
        recipe,
        str(folder),
    )


def load_cifar10(root: Path, download: bool = False) -> Dataset:
    """CIFAR-10: 50,000/10,000 32×32 colour images, 10 classes."""
    return _load(tvd.CIFAR10, "cifar10", root, download, RECIPE_10)


def load_cifar100(root: Path, download: bool = False) -> Dataset:
    """CIFAR-100: 50,000/10,000 32×32 colour images, 100 classes."""
    return _load(tvd.CIFAR100, "cifar100", root, download, RECIPE_100)
