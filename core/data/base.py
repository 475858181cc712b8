"""The in-memory dataset every method works on, and its training recipe."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch.utils.data import TensorDataset


class DataError(ValueError):
    """A dataset that is missing, malformed or cannot serve the request; the message says how to fix it."""


@dataclass(frozen=True)
class Recipe:
    """The training schedule a dataset ships with (the DeepClean paper's, per dataset)."""

    epochs: int
    milestones: tuple[int, ...]
    lr_decay: float
    finetune_epochs: int


@dataclass(frozen=True)
class Normalisation:
    """Per-channel mean and standard deviation applied to images scaled to [0, 1]."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 N×C×H×W images to normalised float32."""
        mean = torch.tensor(self.mean, dtype=torch.float32).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=torch.float32).view(1, -1, 1, 1)
        return (x.float() / 255.0 - mean) / std


@dataclass
class Dataset:
    """Train and test images as uint8 N×C×H×W tensors with int64 labels."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: list[str]
    recipe: Recipe
    source: str = ""
    _norm: Normalisation | None = field(default=None, repr=False)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])  # type: ignore[return-value]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def normalisation(self) -> Normalisation:
        """Per-channel statistics of the training split (computed once)."""
        if self._norm is None:
            x = self.x_train.float() / 255.0
            mean = x.mean(dim=(0, 2, 3))
            std = x.std(dim=(0, 2, 3)).clamp_min(1e-6)
            self._norm = Normalisation(tuple(round(float(v), 6) for v in mean), tuple(round(float(v), 6) for v in std))
        return self._norm

    def tensors(self, split: str, indices=None, norm: Normalisation | None = None) -> TensorDataset:
        """Normalised (x, y) of `split` ("train" or "test"), optionally restricted to `indices`."""
        if split not in ("train", "test"):
            raise DataError(f"unknown split {split!r}; use 'train' or 'test'")
        x, y = (self.x_train, self.y_train) if split == "train" else (self.x_test, self.y_test)
        if indices is not None:
            idx = torch.as_tensor(np.asarray(indices), dtype=torch.long)
            x, y = x[idx], y[idx]
        return TensorDataset((norm or self.normalisation()).apply(x), y)


def from_arrays(
    name: str,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    classes: list[str],
    recipe: Recipe,
    source: str = "",
) -> Dataset:
    """Build a Dataset from uint8 arrays shaped N×H×W or N×H×W×C (channels last)."""

    def chw(x: np.ndarray) -> torch.Tensor:
        x = np.ascontiguousarray(x)
        t = torch.from_numpy(x)
        return t.unsqueeze(1) if t.ndim == 3 else t.permute(0, 3, 1, 2).contiguous()

    return Dataset(
        name=name,
        x_train=chw(x_train),
        y_train=torch.as_tensor(np.asarray(y_train), dtype=torch.long),
        x_test=chw(x_test),
        y_test=torch.as_tensor(np.asarray(y_test), dtype=torch.long),
        classes=classes,
        recipe=recipe,
        source=source,
    )


def stratified_split(x: np.ndarray, y: np.ndarray, test_fraction: float, seed: int):
    """A fixed, seeded, stratified train/test split of arrays."""
    from sklearn.model_selection import train_test_split

    counts = np.bincount(y)
    if (counts[counts > 0] < 2).any():
        raise DataError("every class needs at least 2 images so that both train and test splits hold it")
    return train_test_split(x, y, test_size=test_fraction, random_state=seed, stratify=y)


# The recipe for a user's own data: short, like the digits one.
USER_RECIPE = Recipe(epochs=20, milestones=(10, 15), lr_decay=0.1, finetune_epochs=2)
