"""A run's downloads: its checkpoint and model card zipped, its metrics as CSV."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

from .checkpoint import card_path
from .result import result_of
from .tables import models_table


def artifact_zip(record: dict[str, Any]) -> bytes:
    """The run's unlearned checkpoint and its model card, zipped for download."""
    path = Path(record["artifact_path"] or "")
    if not path.is_file():
        raise FileNotFoundError(f"run {record['id']} has no checkpoint file (deleted, or the run did not finish)")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(path, path.name)
        if card_path(path).is_file():
            z.write(card_path(path), card_path(path).name)
    return buf.getvalue()


def metrics_csv(record: dict[str, Any]) -> str:
    """The run's per-model metrics as CSV."""
    r = result_of(record)
    return models_table(r).to_csv(index=False) if r is not None else "model\n"
