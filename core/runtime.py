"""Shared run-time helpers: device choice and in-memory batching (progress lives in `core.progress`)."""

from __future__ import annotations

from typing import Iterator

import torch
from torch.utils.data import TensorDataset

from .progress import Cancelled, Progress, no_progress  # noqa: F401  (re-exported: most callers import here)


def pick_device(name: str = "auto") -> torch.device:
    """`auto` is CUDA when present, else CPU; asking for CUDA without one is refused with a message."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("no CUDA GPU is visible on this machine; choose device 'cpu' or 'auto'")
    return torch.device(name)


def device_label() -> str:
    """The GPU's name, or 'CPU'."""
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"


def iter_batches(data: TensorDataset, batch_size: int, shuffle: bool = False,
                 generator: torch.Generator | None = None) -> Iterator[tuple[torch.Tensor, ...]]:
    """Slices of an in-memory TensorDataset (much faster than a DataLoader's per-sample collation)."""
    tensors = data.tensors
    n = len(tensors[0])
    order = torch.randperm(n, generator=generator) if shuffle else None
    for start in range(0, n, batch_size):
        if order is None:
            yield tuple(t[start:start + batch_size] for t in tensors)
        else:
            idx = order[start:start + batch_size]
            yield tuple(t[idx] for t in tensors)


def subsample(data: TensorDataset, max_samples: int | None, seed: int = 0) -> TensorDataset:
    """At most `max_samples` rows of `data`, chosen with a seeded permutation (all of it when None)."""
    n = len(data.tensors[0])
    if max_samples is None or max_samples >= n:
        return data
    idx = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:max_samples]
    return TensorDataset(*(t[idx] for t in data.tensors))
