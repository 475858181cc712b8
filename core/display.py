"""How figures are shown to people: forget sets in words, percentages, time left, image thumbnails."""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
import pandas as pd

from .forget import ForgetSpec, ForgetSpecError

PERCENT_COLUMNS = ("Acc(Dr)", "Acc(Df)", "Acc(test)", "MIA(Df)")
POINT_COLUMNS = ("ΔAcc(Df)", "ΔMIA")


def describe_forget(forget: dict[str, Any]) -> str:
    """A forget spec (as stored) in words, e.g. "classes 0"; the raw JSON if it is not a valid spec."""
    if not forget:
        return ""
    try:
        return ForgetSpec.from_dict(forget).describe()
    except (ForgetSpecError, TypeError, ValueError):
        return json.dumps(forget)


def display_table(table: pd.DataFrame) -> pd.DataFrame:
    """The models table as text, the way the Results page shows it (percent with two decimals)."""
    out = table.drop(columns=["role"]).copy()
    shown = lambda fmt: (lambda v: "—" if v is None or pd.isna(v) else fmt(v))  # noqa: E731
    for c in PERCENT_COLUMNS:
        out[c] = out[c].map(shown(lambda v: f"{100 * v:.2f}%"))
    for c in POINT_COLUMNS:
        out[c] = out[c].map(shown(lambda v: f"{100 * v:+.2f}"))
    out["loss AUC"] = out["loss AUC"].map(shown(lambda v: f"{v:.3f}"))
    out["JS→gold"] = out["JS→gold"].map(shown(lambda v: f"{v:.4f}"))
    out["seconds"] = out["seconds"].map(shown(lambda v: f"{v:.2f}"))
    return out.set_index("model")


def eta_seconds(record: dict[str, Any], now: float | None = None) -> float | None:
    """Time left in the current phase of a live run record, from its progress so far (None until it moves)."""
    now = now or time.time()
    frac, since = record.get("progress") or 0.0, record.get("phase_started_at")
    if since is None or frac <= 0.0 or frac >= 1.0:
        return None
    return (now - since) * (1.0 - frac) / frac


def thumbnails(images: np.ndarray, size: int = 64) -> list[np.ndarray]:
    """uint8 N×C×H×W images as N H×W(×3) arrays scaled up (nearest) to about `size` pixels for display."""
    out = []
    for img in images:
        scale = max(1, size // max(img.shape[1:]))
        arr = img.repeat(scale, axis=1).repeat(scale, axis=2)
        out.append(arr[0] if arr.shape[0] == 1 else np.transpose(arr, (1, 2, 0)))
    return out
