"""Writers for tiny datasets in the real on-disk formats (IDX for MNIST, pickled batches for CIFAR)."""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import numpy as np


def write_idx(path: Path, array: np.ndarray) -> None:
    """IDX: magic (0, 0, type 0x08 = ubyte, ndim), big-endian dims, then the bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(bytes([0, 0, 0x08, array.ndim]))
        f.write(struct.pack(">" + "I" * array.ndim, *array.shape))
        f.write(array.astype(np.uint8).tobytes())


def write_mnist(root: Path, folder: str, n_train: int = 40, n_test: int = 20, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    raw = root / folder / "raw"
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_idx(raw / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10)


def write_cifar10(root: Path, per_batch: int = 10, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8), "labels": list(np.arange(per_batch) % 10)}
        (folder / name).write_bytes(pickle.dumps(batch))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": [f"c{i}" for i in range(10)]}))


def write_cifar100(root: Path, n: int = 20, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("train", "test"):
        batch = {"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), "fine_labels": list(np.arange(n) % 100)}
        (folder / name).write_bytes(pickle.dumps(batch))
    (folder / "meta").write_bytes(pickle.dumps({"fine_label_names": [f"f{i}" for i in range(100)]}))
