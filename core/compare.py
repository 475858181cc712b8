"""Run several unlearning methods on one forget set and tabulate them against gold (the papers' comparison table).

All methods share one prepared task (so one Fisher pass serves DeepClean, zero weights, SSD and Fisher
forgetting) and one gold model. Times are reported as each method would cost run alone: a Fisher pass
another method paid for is added back to the method that reused it.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, Sequence

from . import config as cfgmod
from .data import Dataset
from .forget import ForgetSpec
from .gold import gold_model
from .methods import METHODS, MethodError, get_method
from .prepare import cache_key, prepare
from .progress import Cancelled, Progress, no_progress
from .result import UnlearnResult, result_of
from .store import RunStore
from .unlearn import run_unlearn
from .verdict import inconclusive, misses, to_dict

MODEL_FIELDS = ("acc_retain", "acc_forget", "acc_test", "mia_forget", "loss_auc", "js_to_gold", "seconds")
TABLE = (  # (row key, heading, format) of the printed and CSV table
    ("method", "method", "{}"),
    ("acc_retain", "Acc(Dr)", "{:.2%}"),
    ("acc_test", "Acc(test)", "{:.2%}"),
    ("delta_acc_forget", "ΔAcc(Df)", "{:+.2%}"),
    ("delta_mia", "ΔMIA", "{:+.2%}"),
    ("loss_auc", "loss AUC", "{:.3f}"),
    ("js_to_gold", "JS→gold", "{:.4f}"),
    ("seconds", "time s", "{:.2f}"),
    ("time_vs_gold", "÷ gold", "{:.3f}"),
    ("misses", "misses", "{}"),
    ("audit_misses", "audit misses", "{}"),
)


def expand_methods(names: str | Sequence[str], kind: str) -> tuple[list[str], list[dict[str, str]]]:
    """The methods to run and the ones skipped. `"all"` takes every method that serves `kind` and lists
    the others as skipped; a method named explicitly that cannot serve `kind` is refused before anything runs."""
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    if not names:
        raise MethodError("name at least one method, or 'all'")
    if list(names) == ["all"]:
        chosen = [n for n, m in METHODS.items() if kind in m.forget_kinds]
        skipped = [{"method": n, "reason": f"serves only {', '.join(m.forget_kinds)} forget sets"}
                   for n, m in METHODS.items() if kind not in m.forget_kinds]
        return chosen, skipped
    for n in names:
        get_method(n).check(kind)
    return list(dict.fromkeys(names)), []


def row_of(result: UnlearnResult, cached: bool) -> dict[str, Any]:
    """One table row from an unlearning result: the unlearned model's fields, the deltas, time ÷ gold, and
    which verdict checks (core/verdict.py) it misses."""
    u = result.unlearned.to_dict()
    row = {"method": result.method, **{k: u[k] for k in MODEL_FIELDS}, "seconds": result.seconds,
           "seconds_measured": result.unlearned.seconds}
    if result.unlearned.acc_test_retained_classes is not None:
        row["acc_test_retained_classes"] = result.unlearned.acc_test_retained_classes
    verdict, deltas = result.verdict, result.deltas or {}
    row.update({
        "delta_acc_forget": deltas.get("acc_forget"), "delta_mia": deltas.get("mia"),
        "time_vs_gold": result.time_vs_gold, "time_vs_retrain": result.time_vs_retrain,
        "weights_changed_fraction": result.weights_changed_fraction, "streisand": result.streisand,
        "run_id": result.run_id, "cached": cached, "config": result.config,
        "verdict": to_dict(verdict) if result.gold is not None else None,
        "misses": misses(verdict) if result.gold is not None else None,
        "inconclusive": inconclusive(verdict) if result.gold is not None else None,
        "audit": result.audit.to_dict() if result.audit else None,
        "audit_misses": misses(result.audit.checks) if result.audit else None,
    })
    return row


def run_compare(checkpoint: str | Path, spec: ForgetSpec, methods: str | Sequence[str] = "all",
                configs: dict[str, Any] | None = None, *, card: dict | None = None, device: str = "auto",
                store: RunStore | None = None, progress: Progress = no_progress, reuse: bool = True,
                dataset: Dataset | None = None, gold_mode: str = "train") -> dict[str, Any]:
    """Run `methods` on one forget set; returns `{"forget", "original", "gold", "rows", "skipped"}`.

    With a store, each method's run is recorded, and with `reuse` a finished run with the same checkpoint,
    forget set, method and configuration is read back instead of run again. A method that fails gets a
    row with its error; the others still run.
    """
    configs = configs or {}
    prep = prepare(checkpoint, spec, card=card, device=device, dataset=dataset, progress=progress)
    names, skipped = expand_methods(methods, spec.kind)
    gold = gold_model(prep, store, progress, gold_mode)
    if gold is None:  # no gold model: the retraining row has nothing to show
        skipped += [{"method": n, "reason": f"no gold model (gold: {gold_mode})"} for n in names
                    if get_method(n).reference]
        names = [n for n in names if not get_method(n).reference]
    rows, original, gold_metrics = [], None, None
    for k, name in enumerate(names):
        cfg = configs.get(name) or get_method(name).config()

        def report(phase: str, fraction: float, message: str = "", _k=k, _name=name) -> None:
            progress(f"{_name} ({_k + 1}/{len(names)}): {phase}", fraction, message)

        reference = get_method(name).reference
        hit = None
        if reuse and store is not None and not reference:
            hit = store.find_cached(cache_key(prep, name, cfgmod.to_dict(cfg)))
        try:
            if hit is not None:
                result = result_of(hit)
            else:  # gold's row needs no record of its own: the gold model is already cached in the store
                result = run_unlearn(checkpoint, spec, name, cfg, device=device, store=None if reference else store,
                                     progress=report, prepared=prep, gold=gold, gold_mode=gold_mode)
        except Cancelled:
            raise
        except Exception as e:  # one method's failure must not lose the others' results
            rows.append({"method": name, "error": f"{type(e).__name__}: {e}"})
            continue
        original = result.original.to_dict()
        gold_metrics = result.gold.to_dict() if result.gold is not None else None
        rows.append(row_of(result, hit is not None))
    return {"checkpoint": {"path": str(checkpoint), "sha256": prep.card["sha256"]}, "dataset": prep.dataset.name,
            "forget": prep.forget_info().to_dict(), "original": original, "gold": gold_metrics,
            "gold_run": {"cached": gold[1].cached, "run_id": gold[1].run_id, "seconds": gold[1].seconds} if gold else None,
            "rows": rows, "skipped": skipped}


def format_cell(row: dict[str, Any], key: str, fmt: str) -> str:
    v = row.get(key)
    return "—" if v is None else fmt.format(v)


def table_text(result: dict[str, Any]) -> str:
    """The comparison as an aligned text table (failed methods show their error)."""
    head = [h for _, h, _ in TABLE]
    body = []
    for r in result["rows"]:
        if "error" in r:
            body.append([r["method"], f"failed: {r['error']}"] + [""] * (len(TABLE) - 2))
        else:
            body.append([format_cell(r, k, f) for k, _, f in TABLE])
    widths = [max(len(str(x[i])) for x in [head] + [b for b in body if not b[1].startswith("failed")])
              for i in range(len(head))]
    lines = ["  ".join(h.rjust(w) if i else h.ljust(w) for i, (h, w) in enumerate(zip(head, widths)))]
    for b in body:
        if b[1].startswith("failed"):
            lines.append(b[0].ljust(widths[0]) + "  " + b[1])
        else:
            lines.append("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(b, widths))))
    return "\n".join(lines)


def table_csv(result: dict[str, Any]) -> str:
    """The comparison as CSV with raw numbers (fractions, seconds) for spreadsheets."""
    keys = [k for k, _, _ in TABLE] + ["acc_forget", "mia_forget", "acc_test_retained_classes",
                                       "weights_changed_fraction", "streisand", "cached", "run_id", "error"]
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=keys, extrasaction="ignore")
    w.writeheader()
    for r in result["rows"]:
        w.writerow(r)
    return out.getvalue()
