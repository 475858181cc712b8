"""A sweep: one job per value of a method's swept option (DeepClean's γ), fanned out over the active executor."""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

from . import config as cfgmod
from .forget import ForgetSpec
from .jobs import Executor, JobRequest
from .methods import Method, MethodError, get_method, swept_methods
from .result import result_of
from .verdict import misses


def sweep_of(method: str) -> Method:
    """The method, refused unless it declares an option to sweep."""
    m = get_method(method)
    if m.sweep is None:
        raise MethodError(f"{method} has no option to sweep; these do: {', '.join(swept_methods())}")
    return m


def parse_values(text: str, label: str = "--values") -> list[float]:
    """"1.1,1.5,2" → [1.1, 1.5, 2.0]; refuses empty lists and non-numbers (limits are the config's to check)."""
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"{label} {text!r}: give comma-separated numbers, e.g. 1.1,1.5,2,2.5,3") from None
    if not values:
        raise ValueError(f"{label} {text!r}: give at least one value")
    return list(dict.fromkeys(values))


def sweep_configs(method: str, values: Sequence[float], base: Any = None) -> list[Any]:
    """One config per value of the method's swept option, every other option from `base` (each checked)."""
    m = sweep_of(method)
    base = base if base is not None else m.config()
    return [dataclasses.replace(base, **{m.sweep.option: float(v)}) for v in values]


def submit_sweep(executor: Executor, checkpoint: str, spec: ForgetSpec, values: Sequence[float], base: Any = None, *,
                 method: str, device: str = "auto", card: dict | None = None, gold: str = "train") -> list[str]:
    """Queue one job per value (all other settings from `base`); returns their run ids in value order."""
    configs = sweep_configs(method, values, base)
    return [executor.submit(JobRequest(checkpoint=str(checkpoint), forget=spec.to_dict(), method=method,
                                       config=cfgmod.to_dict(cfg), device=device, card=card, gold=gold))
            for cfg in configs]


def sweep_rows(executor: Executor, run_ids: Sequence[str]) -> list[dict[str, Any]]:
    """One row per value: status and, when done, the figures that matter for choosing it and the checks it misses."""
    rows = []
    for run_id in run_ids:
        rec = executor.store.get(run_id)
        option = sweep_of(rec["method"]).sweep.option
        r = result_of(rec)
        row = {option: rec["config"].get(option), "value": rec["config"].get(option), "run_id": run_id,
               "status": rec["status"], "weights_reset_fraction": None, "acc_forget": None, "acc_test": None,
               "delta_acc_forget": None, "delta_mia": None, "seconds": None, "time_vs_gold": None,
               "error": rec["error"], "misses": None, "audit_misses": None}
        if r is not None:
            deltas = r.deltas or {}
            row.update({option: r.config.get(option), "value": r.config.get(option),
                        "weights_reset_fraction": r.weights_reset_fraction, "acc_forget": r.unlearned.acc_forget,
                        "acc_test": r.unlearned.acc_test, "delta_acc_forget": deltas.get("acc_forget"),
                        "delta_mia": deltas.get("mia"), "seconds": r.seconds, "time_vs_gold": r.time_vs_gold,
                        "misses": misses(r.verdict) if r.gold is not None else None,
                        "audit_misses": misses(r.audit.checks) if r.audit else None})
        rows.append(row)
    return rows
