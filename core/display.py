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


def describe_forget(forget: dict[str, Any], dataset: str = "") -> str:
    """A forget spec (as stored) in words, e.g. "digit 0"; the raw JSON if it is not a valid spec."""
    if not forget:
        return ""
    from .data import class_noun

    try:
        return ForgetSpec.from_dict(forget).describe(noun=class_noun(dataset))
    except (ForgetSpecError, TypeError, ValueError):
        return json.dumps(forget)


SYMBOLS = {"gamma": "γ", "alpha": "α", "lambda_": "λ", "lam": "λ", "beta": "β"}


def run_label(rec: dict[str, Any], *, chosen: float | None = None, now: float | None = None) -> str:
    """A run record in words, e.g. "DeepClean γ 1.5 · digit 0 · 14:02": method, its swept option's value
    (`chosen` for a value the method chose itself, as automatic γ does), forget set, and when it was created
    (the date too when not today)."""
    from .data import class_noun
    from .methods import METHODS

    method = METHODS.get(rec.get("method") or "")
    parts = [method.display_name if method else (rec.get("method") or rec.get("kind") or "run")]
    if method is not None and method.sweep is not None:
        opt = method.sweep.option
        value = (rec.get("config") or {}).get(opt)
        symbol = SYMBOLS.get(opt, opt)
        if value == "auto":
            parts[0] += f" {symbol} auto" + (f" ({chosen:g})" if chosen is not None else "")
        elif isinstance(value, (int, float)):
            parts[0] += f" {symbol} {value:g}"
    forget = rec.get("forget") or {}
    if forget:
        try:
            parts.append(ForgetSpec.from_dict(forget).describe(noun=class_noun(rec.get("dataset") or "")))
        except (ForgetSpecError, TypeError, ValueError):
            parts.append(json.dumps(forget))
    created = rec.get("created_at")
    if created is not None:
        today = time.strftime("%Y-%m-%d", time.localtime(now or time.time()))
        fmt = "%H:%M" if time.strftime("%Y-%m-%d", time.localtime(created)) == today else "%d %b %H:%M"
        parts.append(time.strftime(fmt, time.localtime(created)))
    return " · ".join(parts)


def seconds_text(seconds: float | None) -> str:
    """A run's time as every page shows it: "0.36 s", "12.4 s", "3 min 05 s"; "—" when unknown."""
    if seconds is None or pd.isna(seconds):
        return "—"
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"


def display_table(table: pd.DataFrame, expert: bool = True) -> pd.DataFrame:
    """The models table as text, the way the Results page shows it (percent with two decimals, points signed,
    one time format). Experts get the symbols and every column; others plain names without AUC and JS."""
    from .words import EXPERT_ONLY_COLUMNS, PLAIN_COLUMNS

    index = "label" if "label" in table and not expert else "model"
    out = table.drop(columns=[c for c in ("role", "label", "model") if c != index and c in table]).copy()
    shown = lambda fmt: (lambda v: "—" if v is None or pd.isna(v) else fmt(v))  # noqa: E731
    for c in PERCENT_COLUMNS:
        out[c] = out[c].map(shown(lambda v: f"{100 * v:.2f}%"))
    for c in POINT_COLUMNS:
        out[c] = out[c].map(shown(lambda v: f"{100 * v:+.2f}"))
    out["loss AUC"] = out["loss AUC"].map(shown(lambda v: f"{v:.3f}"))
    out["JS→gold"] = out["JS→gold"].map(shown(lambda v: f"{v:.4f}"))
    out["seconds"] = out["seconds"].map(seconds_text)
    out = out.set_index(index)
    out.index.name = None if not expert else out.index.name
    if not expert:
        out = out.drop(columns=list(EXPERT_ONLY_COLUMNS)).rename(columns=PLAIN_COLUMNS)
    return out


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


def card_view(card: dict[str, Any]) -> pd.DataFrame:
    """A model card as a two-column table for people: nested settings as "name = value" lists, no raw JSON."""
    def text(v: Any) -> str:
        if v is None:
            return "—"
        if isinstance(v, dict):
            return ", ".join(f"{k} = {text(x)}" for k, x in v.items()) or "—"
        if isinstance(v, (list, tuple)):
            return ", ".join(f"{x:.4g}" if isinstance(x, float) else str(x) for x in v) or "—"
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    rows = [(k.replace("_", " "), text(v)) for k, v in card.items()]
    return pd.DataFrame(rows, columns=["field", "value"]).set_index("field")
