"""Tables and chart data for the dashboard, built from run records (pandas only; no UI code here)."""

from __future__ import annotations

import io
import json
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .checkpoint import card_path
from .store import RunStore
from .verdict import misses, of_result

METRIC_LABELS = {"acc_retain": "Acc(Dr)", "acc_forget": "Acc(Df)", "acc_test": "Acc(test)", "mia_forget": "MIA(Df)"}
MODEL_ORDER = ("original", "unlearned", "gold")


def models_table(result: dict[str, Any], baselines: dict[str, dict[str, Any]] | None = None) -> pd.DataFrame:
    """One row per model: the run's original, unlearned and gold models, then each baseline's unlearned model."""
    rows = []
    for name in MODEL_ORDER:
        m = result["models"][name]
        rows.append({"model": result["method"] if name == "unlearned" else name, "role": name, **_fields(m, result, name)})
    for method, r in (baselines or {}).items():
        rows.append({"model": method, "role": "baseline", **_fields(r["models"]["unlearned"], r, "unlearned")})
    return pd.DataFrame(rows)


def _fields(m: dict[str, Any], result: dict[str, Any], role: str) -> dict[str, Any]:
    gold = result["models"]["gold"]
    return {"Acc(Dr)": m["acc_retain"], "Acc(Df)": m["acc_forget"], "Acc(test)": m["acc_test"],
            "MIA(Df)": m["mia_forget"], "ΔAcc(Df)": m["acc_forget"] - gold["acc_forget"],
            "ΔMIA": m["mia_forget"] - gold["mia_forget"], "loss AUC": m["loss_auc"], "JS→gold": m["js_to_gold"],
            "seconds": result.get("seconds_standalone", m["seconds"]) if role == "unlearned" else m["seconds"]}


def metric_bars(table: pd.DataFrame) -> pd.DataFrame:
    """Long form of the accuracy and MIA columns, for grouped bars (gold marked)."""
    long = table.melt(id_vars=["model", "role"], value_vars=list(METRIC_LABELS.values()), var_name="metric",
                      value_name="value")
    long["is_gold"] = long["role"] == "gold"
    return long


def per_class(result: dict[str, Any], classes: list[str]) -> pd.DataFrame:
    """Test accuracy per class for the original, unlearned and gold models."""
    rows = []
    for name in MODEL_ORDER:
        per = result["models"][name].get("per_class_test") or []
        for k, v in enumerate(per):  # a list indexed by class; None where the test split has no such image
            rows.append({"class": classes[k] if k < len(classes) else str(k), "model": name, "accuracy": v})
    return pd.DataFrame(rows)


def distributions(result: dict[str, Any]) -> pd.DataFrame:
    """Per-sample loss and entropy on Df and test, per model (what the attacks look at)."""
    rows = []
    for model, sets in (result.get("distributions") or {}).items():
        for name, feats in sets.items():
            for feat, values in feats.items():
                rows += [{"model": model, "set": "forget (Df)" if name == "forget" else "test",
                          "feature": feat, "value": v} for v in values]
    df = pd.DataFrame(rows, columns=["model", "set", "feature", "value"])
    df["log10 value"] = np.log10(df["value"].astype(float).clip(lower=1e-6))
    return df


def per_layer(result: dict[str, Any]) -> pd.DataFrame:
    """Fraction of weights reset (DeepClean, SSD) or changed (others) per parameter tensor."""
    rows = []
    for layer, info in (result.get("per_layer") or {}).items():
        frac = info.get("reset_fraction", info.get("changed_fraction"))
        rows.append({"layer": layer, "fraction": frac, "count": info.get("selected")})
    return pd.DataFrame(rows, columns=["layer", "fraction", "count"])


def same_forget_set_runs(store: RunStore, result: dict[str, Any]):
    """(record, metrics) of every finished unlearn run on the result's checkpoint and forget set, newest first."""
    sha, forget = result["checkpoint"]["sha256"], result["forget"]
    key = {k: v for k, v in forget.items() if k not in ("description", "forget_size", "retain_size")}
    for r in store.list(kind="unlearn", status="done"):
        m = r["metrics"] or {}
        if r["parent_sha256"] == sha and (r["forget"] or {}) == key and m.get("models"):
            yield r, m


def baselines_for(store: RunStore, result: dict[str, Any], exclude: str | None = None) -> dict[str, dict[str, Any]]:
    """The newest finished result of every other method on the same checkpoint and forget set (cached runs)."""
    out: dict[str, dict[str, Any]] = {}
    for r, m in same_forget_set_runs(store, result):
        if r["id"] != exclude and r["method"] != result["method"] and r["method"] not in out:
            out[r["method"]] = m
    return out


GAMMA_METHODS = ("deepclean", "zero_weights")


def gamma_runs(store: RunStore, result: dict[str, Any]) -> pd.DataFrame:
    """The newest finished run per γ of the result's method (DeepClean or zero weights) on the same checkpoint
    and forget set, sorted by γ: what the paper's Fig. 4 plots, with each γ's verdict against gold."""
    method = result["method"] if result["method"] in GAMMA_METHODS else "deepclean"
    rows: dict[float, dict[str, Any]] = {}
    for r, m in same_forget_set_runs(store, result):
        gamma = (m.get("config") or {}).get("gamma")
        if r["method"] != method or gamma is None or gamma in rows:
            continue
        u, g = m["models"]["unlearned"], m["models"]["gold"]
        test_key = "acc_test_retained_classes" if "acc_test_retained_classes" in u else "acc_test"
        checks = of_result(m)
        rows[gamma] = {"gamma": float(gamma), "run_id": r["id"], "weights reset": m.get("weights_reset_fraction"),
                       "Acc(Df)": u["acc_forget"], "Acc(test)": u[test_key], "MIA(Df)": u["mia_forget"],
                       "gold Acc(Df)": g["acc_forget"], "gold Acc(test)": g[test_key], "gold MIA(Df)": g["mia_forget"],
                       "ΔMIA": m["deltas"]["mia"], "time ÷ gold": m.get("time_vs_gold"),
                       "passes": all(c.passed for c in checks),
                       "misses": misses(checks)}
    cols = ["gamma", "run_id", "weights reset", "Acc(Df)", "Acc(test)", "MIA(Df)", "gold Acc(Df)", "gold Acc(test)",
            "gold MIA(Df)", "ΔMIA", "time ÷ gold", "passes", "misses"]
    return pd.DataFrame(sorted(rows.values(), key=lambda x: x["gamma"]), columns=cols)


def gamma_lines(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Long forms of `gamma_runs` for the chart: (metric per γ, gold's level per metric)."""
    metrics = ["Acc(Df)", "Acc(test)", "MIA(Df)", "weights reset"]
    lines = frame.melt(id_vars=["gamma"], value_vars=metrics, var_name="metric", value_name="value")
    gold = pd.DataFrame([{"metric": m, "value": float(frame[f"gold {m}"].iloc[-1])} for m in metrics[:3]]) \
        if len(frame) else pd.DataFrame(columns=["metric", "value"])
    return lines, gold


def runs_frame(runs: list[dict[str, Any]]) -> pd.DataFrame:
    """The Runs page's table: one row per run with its key figures."""
    rows = []
    for r in runs:
        m = r["metrics"] or {}
        u = (m.get("models") or {}).get("unlearned") or {}
        forget = r["forget"] or {}
        rows.append({
            "id": r["id"], "status": r["status"], "kind": r["kind"], "method": r["method"], "dataset": r["dataset"],
            "forget": describe_forget(forget), "Acc(test)": u.get("acc_test"), "Acc(Df)": u.get("acc_forget"),
            "ΔMIA": (m.get("deltas") or {}).get("mia"), "time ÷ gold": m.get("time_vs_gold"),
            "seconds": _duration(r), "created": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r["created_at"])),
            "error": r["error"],
        })
    return pd.DataFrame(rows, columns=["id", "status", "kind", "method", "dataset", "forget", "Acc(test)", "Acc(Df)",
                                       "ΔMIA", "time ÷ gold", "seconds", "created", "error"])


def describe_forget(forget: dict[str, Any]) -> str:
    if not forget:
        return ""
    from .forget import ForgetSpec

    try:
        return ForgetSpec.from_dict(forget).describe()
    except Exception:
        return json.dumps(forget)


def _duration(r: dict[str, Any]) -> float | None:
    if r["started_at"] is None:
        return None
    return round((r["finished_at"] or time.time()) - r["started_at"], 2)


def eta_seconds(record: dict[str, Any], now: float | None = None) -> float | None:
    """Time left in the current phase, from its progress so far (None until it has moved)."""
    now = now or time.time()
    frac, since = record.get("progress") or 0.0, record.get("phase_started_at")
    if since is None or frac <= 0.0 or frac >= 1.0:
        return None
    return (now - since) * (1.0 - frac) / frac


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
    m = record["metrics"] or {}
    if not m.get("models"):
        return "model\n"
    return models_table(m).to_csv(index=False)


def thumbnails(images: np.ndarray, size: int = 64) -> list[np.ndarray]:
    """uint8 N×C×H×W images as N H×W(×3) arrays scaled up (nearest) to about `size` pixels for display."""
    out = []
    for img in images:
        scale = max(1, size // max(img.shape[1:]))
        arr = img.repeat(scale, axis=1).repeat(scale, axis=2)
        out.append(arr[0] if arr.shape[0] == 1 else np.transpose(arr, (1, 2, 0)))
    return out


def predictions(model, card: dict[str, Any], ds, split: str, indices) -> np.ndarray:
    """The model's predicted class for some images of a split (CPU, eval mode, no gradients)."""
    from .evaluate import outputs
    from .workflows import norm_of

    return outputs(model, ds.tensors(split, np.asarray(indices), norm_of(card)), device="cpu").preds


PERCENT_COLUMNS = ("Acc(Dr)", "Acc(Df)", "Acc(test)", "MIA(Df)")
POINT_COLUMNS = ("ΔAcc(Df)", "ΔMIA")


def display_table(table: pd.DataFrame) -> pd.DataFrame:
    """The models table as text, the way the Results page shows it (percent with two decimals)."""
    out = table.drop(columns=["role"]).copy()
    for c in PERCENT_COLUMNS:
        out[c] = out[c].map(lambda v: f"{100 * v:.2f}%")
    for c in POINT_COLUMNS:
        out[c] = out[c].map(lambda v: f"{100 * v:+.2f}")
    out["loss AUC"] = out["loss AUC"].map(lambda v: f"{v:.3f}")
    out["JS→gold"] = out["JS→gold"].map(lambda v: f"{v:.4f}")
    out["seconds"] = out["seconds"].map(lambda v: f"{v:.2f}")
    return out.set_index("model")
