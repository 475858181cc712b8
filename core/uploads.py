"""User uploads (checkpoints, datasets): hashed, saved under DEEPCLEAN_HOME/uploads, validated in full.

An upload is untrusted. Nothing uses it before it has passed every check here; one that fails is removed
and the error names the problem and the fix.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

from . import paths
from .checkpoint import SUFFIXES as CHECKPOINT_SUFFIXES
from .checkpoint import CheckpointError, atomic_write_bytes, card_path, load_checkpoint
from .data import Dataset, DataError, load_dataset
from .cards import card_for

DATASET_SUFFIXES = {".npz": "npz", ".zip": "image_folder"}
DEFAULT_MAX_MB = 512


class UploadError(ValueError):
    """An upload that cannot be used; the message names the problem and the fix."""


def max_bytes() -> int:
    """Largest upload accepted (DEEPCLEAN_MAX_UPLOAD_MB, default 512 MB)."""
    return int(float(os.environ.get("DEEPCLEAN_MAX_UPLOAD_MB", DEFAULT_MAX_MB)) * 2**20)


def uploads_dir() -> Path:
    d = paths.home() / "uploads"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _save(data: bytes, filename: str, allowed: tuple[str, ...]) -> Path:
    """Store the bytes under a content-addressed name; refuse wrong types and oversized files first."""
    suffix = Path(filename).suffix.lower()
    if suffix not in allowed:
        raise UploadError(f"{filename}: unsupported file type {suffix or '(none)'}; upload one of {', '.join(allowed)}")
    if len(data) > max_bytes():
        raise UploadError(f"{filename}: {len(data) / 2**20:.1f} MB is over the {max_bytes() / 2**20:.0f} MB upload "
                          f"limit; raise DEEPCLEAN_MAX_UPLOAD_MB or upload a smaller file")
    if not data:
        raise UploadError(f"{filename}: the file is empty")
    digest = hashlib.sha256(data).hexdigest()
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(filename).stem)[:60] or "upload"
    path = uploads_dir() / f"{digest[:12]}-{stem}{suffix}"
    if not path.is_file():
        atomic_write_bytes(path, lambda tmp: tmp.write_bytes(data))
    return path


def save_checkpoint_upload(data: bytes, filename: str, architecture: str, dataset: Dataset,
                           data_path: str | None = None) -> tuple[Path, dict[str, Any]]:
    """Save an uploaded checkpoint, check its keys and shapes against `architecture` on `dataset`, and write
    its model card beside it. Returns (path, card). `.pt/.pth` load only as weights (no pickled code)."""
    path = _save(data, filename, CHECKPOINT_SUFFIXES)
    card = {**card_for(architecture, dataset, data_path), "source": f"upload: {filename}"}
    try:
        _, checked = load_checkpoint(path, card)
    except CheckpointError as e:
        path.unlink(missing_ok=True)
        raise UploadError(str(e).replace(path.name, filename)) from None
    card = {**checked, "file": path.name}
    atomic_write_bytes(card_path(path), lambda tmp: tmp.write_text(json.dumps(card, indent=2)))
    return path, card


def dataset_kind(path: str | Path) -> str:
    """The dataset loader an uploaded data file is read by (`npz` or `image_folder`), from its suffix."""
    suffix = Path(path).suffix.lower()
    if suffix not in DATASET_SUFFIXES:
        raise UploadError(f"{Path(path).name}: unsupported dataset file; upload one of {', '.join(DATASET_SUFFIXES)}")
    return DATASET_SUFFIXES[suffix]


def save_dataset_upload(data: bytes, filename: str) -> tuple[Path, Dataset]:
    """Save an uploaded `.npz` or image-folder `.zip` and load it in full (every check of its loader)."""
    path = _save(data, filename, tuple(DATASET_SUFFIXES))
    try:
        ds = load_dataset(dataset_kind(path), path=path)
    except DataError as e:
        path.unlink(missing_ok=True)
        raise UploadError(str(e).replace(str(path), filename).replace(path.name, filename)) from None
    return path, ds


def list_uploaded_checkpoints() -> list[Path]:
    """Uploaded checkpoints that passed validation (they have a card beside them)."""
    d = paths.home() / "uploads"
    return sorted(p for p in d.iterdir() if p.suffix in CHECKPOINT_SUFFIXES and card_path(p).is_file()) if d.is_dir() else []


def list_uploaded_datasets() -> list[Path]:
    d = paths.home() / "uploads"
    return sorted(p for p in d.iterdir() if p.suffix.lower() in DATASET_SUFFIXES) if d.is_dir() else []
