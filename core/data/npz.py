"""A user's own arrays: `.npz` with `x` (uint8 N×H×W or N×H×W×C) and `y` (integer labels).

An npz is a zip of .npy members and an upload is untrusted, so nothing is decompressed before every
member's header (shape, dtype) has been read and checked: only x, y, x_test and y_test are accepted, each
must hold the bytes its header declares, and together they must fit the memory budget
(DEEPCLEAN_MAX_DATASET_MB, default 1024). A 0.5 MB file of zeros declaring 512 MiB, or a header declaring
16 TiB, is refused from its headers alone.
"""

from __future__ import annotations

import math
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .base import USER_RECIPE, Dataset, DataError, from_arrays, stratified_split

TEST_FRACTION = 0.2
SPLIT_SEED = 0
MAX_CLASSES = 1000
MEMBERS = ("x", "y", "x_test", "y_test")
DEFAULT_BUDGET_MB = 1024


def budget_bytes() -> int:
    """Most bytes the arrays of one dataset may take once loaded (DEEPCLEAN_MAX_DATASET_MB, default 1024)."""
    return int(float(os.environ.get("DEEPCLEAN_MAX_DATASET_MB", DEFAULT_BUDGET_MB)) * 2**20)


def _size(n: float) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} bytes"


def read_headers(zf: zipfile.ZipFile, where: str) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Each member's (shape, dtype) from its .npy header alone, refusing members we do not use, object
    arrays, headers that declare more data than the member holds, and a total over the budget."""
    out, total = {}, 0
    names = [i.filename[:-4] if i.filename.endswith(".npy") else i.filename for i in zf.infolist()]
    missing = {"x", "y"} - set(names)
    if missing:
        raise DataError(f"{where}: missing array(s) {sorted(missing)}; found {sorted(names)}. Save with "
                        f"numpy.savez(path, x=images, y=labels)")
    for info, name in zip(zf.infolist(), names):
        if name not in MEMBERS:
            raise DataError(f"{where}: unexpected member {name!r}; a dataset .npz holds only x, y (and optionally "
                            f"x_test, y_test). Save with numpy.savez(path, x=images, y=labels)")
        with zf.open(info) as f:
            try:
                version = np.lib.format.read_magic(f)
                read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                shape, _fortran, dtype = read(f)
            except (ValueError, EOFError) as e:
                raise DataError(f"{where}: member {name!r} is not a .npy array ({e})") from e
            header_len = f.tell()
        if dtype.hasobject:
            raise DataError(f"{where}: {name} holds Python objects; save plain numbers (uint8 images, integer labels)")
        declared = math.prod(shape) * dtype.itemsize
        total += declared
        if total > budget_bytes():
            what = f"{name} would take {_size(declared)}" if declared > budget_bytes() else \
                f"the arrays would take {_size(total)} in all"
            raise DataError(f"{where}: {what} of memory once loaded, over the {_size(budget_bytes())} budget for a "
                            f"dataset; upload a smaller dataset or raise DEEPCLEAN_MAX_DATASET_MB")
        if info.file_size - header_len < declared:
            raise DataError(f"{where}: {name} declares {shape} {dtype} ({_size(declared)}) but the file holds "
                            f"{_size(max(0, info.file_size - header_len))} of data; the file is truncated or forged")
        out[name] = (tuple(shape), dtype)
    return out


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
        with zipfile.ZipFile(path) as zf:
            headers = read_headers(zf, path.name)
        x_shape, x_dtype = headers["x"]
        if x_dtype != np.uint8 or len(x_shape) not in (3, 4):  # say so before decompressing anything
            validate_arrays(np.broadcast_to(np.zeros((), x_dtype), x_shape), np.empty(0, np.int64), path.name)
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in headers}
    except DataError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, zlib.error, KeyError) as e:
        raise DataError(f"{path.name}: not a readable .npz file ({type(e).__name__}: {e}); save it with "
                        f"numpy.savez(path, x=..., y=...)") from e
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
