"""A user's own arrays: `.npz` with `x` (uint8 N×H×W or N×H×W×C) and `y` (integer labels)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from .base import USER_RECIPE, Dataset, DataError, from_arrays, stratified_split

TEST_FRACTION = 0.2
SPLIT_SEED = 0
MAX_CLASSES = 1000


def validate_arrays(x: np.ndarray, y: np.ndarray, where: str = "npz") -> None:
    """Refuse arrays the models cannot take, naming the problem and the fix."""
    if x.dtype != np.uint8:
        raise DataError(f"{where}: x has dtype {x.dtype}; save images as uint8 (0..255), e.g. x.astype(np.uint8)")
    if x.ndim not in (3, 4):
        raise DataError(f"{where}: x has shape {x.shape}; expected N×H×W (grey) or N×H×W×C (C = 1 or 3)")
    if x.ndim == 4 and x.shape[3] not in (1, 3):
        raise DataError(f"{where}: x has {x.shape[3]} channels in its last axis; expected 1 or 3 (channels last)")
    if min(x.shape[1:3]) < 4:
        raise DataError(f"{where}: images of {x.shape[1]}×{x.shape[2]} are too small; use at least 4×4")
    if not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{where}: y has dtype {y.dtype}; labels must be integers 0..K-1")
    if y.ndim != 1 or len(y) != len(x):
        raise DataError(f"{where}: y has shape {y.shape}; expected one label per image, shape ({len(x)},)")
    if len(y) and (y.min() < 0 or y.max() >= MAX_CLASSES):
        raise DataError(f"{where}: labels run from {y.min()} to {y.max()}; expected 0..K-1 with K ≤ {MAX_CLASSES}")
    if len(np.unique(y)) < 2:
        raise DataError(f"{where}: found {len(np.unique(y))} class(es); unlearning needs at least 2")


def load(path: Path, download: bool = False) -> Dataset:
    """Read, validate and split (80/20 stratified, seeded) an npz; `x_test`/`y_test` are used if present."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise DataError(f"{path.name}: not a readable .npz file ({e}); save it with numpy.savez(path, x=..., y=...)") from e
    missing = {"x", "y"} - set(arrays)
    if missing:
        raise DataError(f"{path.name}: missing array(s) {sorted(missing)}; found {sorted(arrays)}. Save with numpy.savez(path, x=images, y=labels)")
    x, y = arrays["x"], arrays["y"]
    validate_arrays(x, y, path.name)
    if "x_test" in arrays and "y_test" in arrays:
        x_te, y_te = arrays["x_test"], arrays["y_test"]
        validate_arrays(x_te, y_te, f"{path.name} (test)")
        if x_te.shape[1:] != x.shape[1:]:
            raise DataError(f"{path.name}: x_test images are {x_te.shape[1:]} but x images are {x.shape[1:]}")
        x_tr, y_tr = x, y
    else:
        x_tr, x_te, y_tr, y_te = stratified_split(x, y, TEST_FRACTION, SPLIT_SEED)
    k = int(max(y_tr.max(), y_te.max())) + 1
    return from_arrays("npz", x_tr, y_tr, x_te, y_te, [str(c) for c in range(k)], USER_RECIPE, str(path))
