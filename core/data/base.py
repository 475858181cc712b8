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
    """The input transform a model card names: uint8 images to the model's input.

    Images are scaled to [0, 1]; grey images are repeated to `channels` (3) when the model takes colour;
    images whose sides differ from `size` are resized (bilinear, antialiased, as torchvision's `Resize` on
    tensors); then each channel is normalised with `mean` and `std`. Without `size` and `channels` (our own
    models, trained on the dataset's own shape) only the scaling and normalisation apply.
    """

    mean: tuple[float, ...]
    std: tuple[float, ...]
    size: tuple[int, int] | None = None
    channels: int | None = None

    @classmethod
    def from_card(cls, card: dict) -> "Normalisation":
        """The transform of a model card: its normalisation, and its input shape as the target size."""
        c, h, w = card["input_shape"]
        return cls(tuple(card["normalisation"]["mean"]), tuple(card["normalisation"]["std"]), (int(h), int(w)), int(c))

    def output_shape(self, shape: tuple[int, ...]) -> tuple[int, int, int]:
        """C×H×W of the transformed images, for images of C×H×W `shape`."""
        c, h, w = shape
        return (self.channels or c, *(self.size or (h, w)))

    def describe(self, shape: tuple[int, ...]) -> str:
        """The steps applied to images of C×H×W `shape`, in words (shown by the pages and the CLI)."""
        c, h, w = shape
        steps = []
        if self.channels and c != self.channels:
            steps.append(f"grey repeated to {self.channels} channels")
        if self.size and (h, w) != tuple(self.size):
            steps.append(f"resized {h}×{w} → {self.size[0]}×{self.size[1]} (bilinear, antialiased)")
        fmt = lambda v: ", ".join(f"{x:.3g}" for x in v)  # noqa: E731
        steps.append(f"normalised with mean ({fmt(self.mean)}) and std ({fmt(self.std)})")
        return "; ".join(steps)

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 N×C×H×W images to the model's float32 input, in chunks (memory bounded by the output)."""
        out_shape = self.output_shape(tuple(x.shape[1:]))
        if self.channels and x.shape[1] not in (1, self.channels):
            raise DataError(f"the model takes {self.channels}-channel images; these have {x.shape[1]} channels")
        if len(self.mean) not in (1, out_shape[0]):
            raise DataError(f"the normalisation has {len(self.mean)} channel means for {out_shape[0]}-channel images")
        elements = len(x) * out_shape[0] * out_shape[1] * out_shape[2]
        if elements > MAX_TRANSFORMED_ELEMENTS:
            raise DataError(
                f"{len(x)} images at {out_shape[0]}×{out_shape[1]}×{out_shape[2]} would take "
                f"{elements * 4 / 2**30:.1f} GiB as float32, more than the {MAX_TRANSFORMED_ELEMENTS * 4 / 2**30:.0f} "
                f"GiB held in memory at once; use a sample budget (e.g. --retain-samples) or a smaller input size")
        mean = torch.tensor(self.mean, dtype=torch.float32).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=torch.float32).view(1, -1, 1, 1)
        if self.size is None and self.channels is None:
            return (x.float() / 255.0 - mean) / std
        out = torch.empty(len(x), *out_shape)
        step = max(1, TRANSFORM_CHUNK_ELEMENTS // max(1, out[0].numel()))
        for lo in range(0, len(x), step):
            part = x[lo:lo + step].float() / 255.0
            if part.shape[1] != out_shape[0]:
                part = part.expand(-1, out_shape[0], -1, -1)
            if tuple(part.shape[2:]) != tuple(out_shape[1:]):
                part = torch.nn.functional.interpolate(part, size=out_shape[1:], mode="bilinear", align_corners=False,
                                                       antialias=True)
            out[lo:lo + step] = (part - mean) / std
        return out


# torchvision's ImageNet statistics: the normalisation its pretrained classifiers (and models fine-tuned from
# them) expect, offered as the default for torchvision architectures.
IMAGENET = Normalisation((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
IMAGENET_SIZE = (224, 224)
# A transformed split is held in memory whole (the methods index it freely): refuse one beyond 8 GiB of float32
# (a third of a 24 GB machine) with a message, rather than let the process be killed.
MAX_TRANSFORMED_ELEMENTS = 2 * 1024**3
# Images resized per step, as elements of output (64 MiB of float32): the interpolation's temporaries stay small.
TRANSFORM_CHUNK_ELEMENTS = 1 << 24


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
