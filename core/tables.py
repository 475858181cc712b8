"""Tables and chart frames built from results and run records (pandas only; no UI and no store access here)."""

from __future__ import annotations

import time
from typing import Any, Sequence

import numpy as np
import pandas as pd

from .display import describe_forget, run_label
from .palette import model_label
from .result import MODEL_ROLES, ModelMetrics, UnlearnResult
from .verdict import misses

METRIC_LABELS = {"acc_retain": "Acc(Dr)", "acc_forget": "Acc(Df)", "acc_test": "Acc(test)", "mia_forget": "MIA(Df)"}
MODEL_ORDER = ("original", "unlearned", "gold")


def models_table(result: UnlearnResult, baselines: dict[str, UnlearnResult] | None = None) -> pd.DataFrame:
    """One row per model: the run's original, unlearned and gold models, then each baseline's unlearned model."""
    rows = []
    for role in MODEL_ROLES:
        m = result.models.get(role)
        if m is None:  # no gold model for this run
            continue
        seconds = result.seconds if role == "unlearned" else m.seconds
        rows.append({"model": result.method if role == "unlearned" else role, "role": role,
                     "label": model_label(role, result.method), **_fields(m, result.gold, seconds)})
    for method, r in (baselines or {}).items():
        rows.append({"model": method, "role": "baseline", "label": model_label("baseline", method),
                     **_fields(r.unlearned, r.gold, r.seconds)})
    return pd.DataFrame(rows)


def _fields(m: ModelMetrics, gold: ModelMetrics | None, seconds: float) -> dict[str, Any]:
    return {"Acc(Dr)": m.acc_retain, "Acc(Df)": m.acc_forget, "Acc(test)": m.acc_test, "MIA(Df)": m.mia_forget,
            "ΔAcc(Df)": m.acc_forget - gold.acc_forget if gold else None,
            "ΔMIA": m.mia_forget - gold.mia_forget if gold else None,
            "loss AUC": m.loss_auc, "JS→gold": m.js_to_gold, "seconds": seconds}


def metric_bars(table: pd.DataFrame) -> pd.DataFrame:
    """Long form of the accuracy and MIA columns, for grouped bars (gold marked)."""
    long = table.melt(id_vars=["model", "role", "label"], value_vars=list(METRIC_LABELS.values()), var_name="metric",
                      value_name="value")
    long["is_gold"] = long["role"] == "gold"
    return long


def per_class(result: UnlearnResult) -> pd.DataFrame:
    """Test accuracy per class for the original, unlearned and gold models (`label`: their names on charts)."""
    rows = []
    for name in MODEL_ORDER:
        if result.models.get(name) is None:  # no gold model for this run
            continue
        for k, v in enumerate(result.models[name].per_class_test):  # None where the test split has no such image
            label = result.classes[k] if k < len(result.classes) else str(k)
            rows.append({"class": label, "model": name, "label": model_label(name, result.method), "accuracy": v})
    return pd.DataFrame(rows, columns=["class", "model", "label", "accuracy"])


def distributions(result: UnlearnResult) -> pd.DataFrame:
    """Per-sample loss and entropy on Df and test, per model (what the attacks look at)."""
    rows = []
    for model, sets in result.distributions.items():
        for name, feats in sets.items():
            for feat, values in feats.items():
                rows += [{"model": model, "label": model_label(model, result.method),
                          "set": "forgotten (Df)" if name == "forget" else "unseen (test)",
                          "feature": feat, "value": v} for v in values]
    df = pd.DataFrame(rows, columns=["model", "label", "set", "feature", "value"])
    df["log10 value"] = np.log10(df["value"].astype(float).clip(lower=1e-6))
    return df


def per_layer(result: UnlearnResult) -> pd.DataFrame:
    """Fraction of weights reset (DeepClean, SSD) or changed (others) per parameter tensor."""
    rows = []
    for layer, info in result.per_layer.items():
        frac = info.get("reset_fraction", info.get("changed_fraction"))
        rows.append({"layer": layer, "fraction": frac, "count": info.get("selected")})
    return pd.DataFrame(rows, columns=["layer", "fraction", "count"])


SWEEP_COLUMNS = ["value", "run_id", "weights reset", "Acc(Df)", "Acc(test)", "MIA(Df)", "gold Acc(Df)",
                 "gold Acc(test)", "gold MIA(Df)", "ΔMIA", "time ÷ gold", "passes", "misses"]


def sweep_frame(results: Sequence[UnlearnResult], option: str) -> pd.DataFrame:
    """One row per value of the swept option (results sorted by it): the figures the paper's Fig. 4 plots,
    each with its verdict against gold. Acc(test) is the judged one (retained classes for class forgetting)."""
    rows = []
    for r in results:
        u, g = r.unlearned, r.gold
        checks = r.verdict if g is not None else (r.audit.checks if r.audit else [])
        rows.append({"value": float(r.config[option]), "run_id": r.run_id, "weights reset": r.weights_reset_fraction,
                     "Acc(Df)": u.acc_forget, "Acc(test)": u.judged_test, "MIA(Df)": u.mia_forget,
                     "gold Acc(Df)": g.acc_forget if g else None, "gold Acc(test)": g.judged_test if g else None,
                     "gold MIA(Df)": g.mia_forget if g else None, "ΔMIA": (r.deltas or {}).get("mia"),
                     "time ÷ gold": r.time_vs_gold, "passes": bool(checks) and all(c.passed for c in checks),
                     "misses": misses(checks)})
    return pd.DataFrame(rows, columns=SWEEP_COLUMNS)


def sweep_lines(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Long forms of `sweep_frame` for the chart: (metric per value, gold's level per metric)."""
    metrics = ["Acc(Df)", "Acc(test)", "MIA(Df)", "weights reset"]
    lines = frame.melt(id_vars=["value"], value_vars=metrics, var_name="metric", value_name="level")
    with_gold = frame.dropna(subset=["gold Acc(Df)"])
    gold = pd.DataFrame([{"metric": m, "level": float(with_gold[f"gold {m}"].iloc[-1])} for m in metrics[:3]]) \
        if len(with_gold) else pd.DataFrame(columns=["metric", "level"])
    return lines, gold


def search_frame(result: UnlearnResult) -> pd.DataFrame:
    """Automatic γ's candidates as tried, in order: γ, weights reset, epochs, what the search saw, and which
    was chosen (empty for a run that did not search)."""
    search = result.gamma_search or {}
    rows = [{"try": k + 1, **row, "chosen": False} for k, row in enumerate(search.get("tried", []))]
    frame = pd.DataFrame(rows)
    if len(frame):
        last = frame.index[(frame["gamma"] == search["chosen"])][-1]
        frame.loc[last, "chosen"] = True
    return frame


RUNS_COLUMNS = ["id", "run", "status", "kind", "method", "dataset", "forget", "Acc(test)", "Acc(Df)", "ΔMIA",
                "time ÷ gold", "seconds", "created", "error"]


def runs_frame(runs: list[dict[str, Any]], results: dict[str, UnlearnResult] | None = None) -> pd.DataFrame:
    """The Runs page's table: one row per run record with its readable name and key figures (from `results`, by
    run id). `seconds` is the run's one time: the method's own for a finished unlearning run (what Results
    shows), else the record's wall time so far."""
    results = results or {}
    rows = []
    for rec in runs:
        r = results.get(rec["id"])
        rows.append({
            "id": rec["id"], "run": run_label(rec, chosen=(r.gamma_search or {}).get("chosen") if r else None),
            "status": rec["status"], "kind": rec["kind"], "method": rec["method"], "dataset": rec["dataset"],
            "forget": describe_forget(rec["forget"] or {}, rec["dataset"] or ""),
            "Acc(test)": r.unlearned.acc_test if r else None, "Acc(Df)": r.unlearned.acc_forget if r else None,
            "ΔMIA": (r.deltas or {}).get("mia") if r else None, "time ÷ gold": r.time_vs_gold if r else None,
            "seconds": round(r.seconds, 2) if r else _duration(rec),
            "created": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(rec["created_at"])), "error": rec["error"],
        })
    return pd.DataFrame(rows, columns=RUNS_COLUMNS)


def _duration(rec: dict[str, Any]) -> float | None:
    if rec["started_at"] is None:
        return None
    return round((rec["finished_at"] or time.time()) - rec["started_at"], 2)


def record_view(rec: dict[str, Any]) -> pd.DataFrame:
    """A run record as a two-column table for people: what, then its value in words (no raw JSON, no None)."""
    when = lambda t: time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) if t else "—"  # noqa: E731
    config = rec.get("config") or {}
    rows = [("run", run_label(rec)), ("id", rec["id"]), ("status", rec["status"]), ("kind", rec["kind"]),
            ("method", rec.get("method") or "—"), ("dataset", rec.get("dataset") or "—"),
            ("forget set", describe_forget(rec.get("forget") or {}, rec.get("dataset") or "") or "—"),
            ("settings", ", ".join(f"{k} = {v}" for k, v in config.items()) or "defaults"),
            ("created", when(rec.get("created_at"))), ("started", when(rec.get("started_at"))),
            ("finished", when(rec.get("finished_at"))), ("phase", rec.get("phase") or "—"),
            ("input checkpoint", rec.get("parent_path") or "—"), ("output", rec.get("artifact_path") or "—"),
            ("error", rec.get("error") or "—")]
    return pd.DataFrame(rows, columns=["field", "value"]).set_index("field")
