"""A γ sweep: one DeepClean job per threshold, fanned out over the active executor (local workers or Dask)."""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

from . import config as cfgmod
from .forget import ForgetSpec
from .jobs import Executor, JobRequest
from .methods.deepclean import DeepCleanConfig
from .verdict import misses, of_result

SWEEP_METHODS = ("deepclean", "zero_weights")


def parse_gammas(text: str) -> list[float]:
    """"1.1,1.5,2" → [1.1, 1.5, 2.0]; refuses empty lists, non-numbers and γ ≤ 0."""
    try:
        gammas = [float(g) for g in text.split(",") if g.strip()]
    except ValueError:
        raise ValueError(f"--gammas {text!r}: give comma-separated numbers, e.g. 1.1,1.5,2,2.5,3") from None
    if not gammas or any(g <= 0 for g in gammas):
        raise ValueError(f"--gammas {text!r}: give at least one γ, each above 0")
    return list(dict.fromkeys(gammas))


def submit_sweep(executor: Executor, checkpoint: str, spec: ForgetSpec, gammas: Sequence[float],
                 base: DeepCleanConfig | None = None, *, method: str = "deepclean", device: str = "auto",
                 card: dict | None = None) -> list[str]:
    """Queue one job per γ (all other settings from `base`); returns their run ids in γ order."""
    if method not in SWEEP_METHODS:
        raise ValueError(f"a γ sweep runs {' or '.join(SWEEP_METHODS)}, not {method!r}")
    base = base or DeepCleanConfig()
    return [executor.submit(JobRequest(checkpoint=str(checkpoint), forget=spec.to_dict(), method=method,
                                       config=cfgmod.to_dict(dataclasses.replace(base, gamma=float(g))),
                                       device=device, card=card))
            for g in gammas]


def sweep_rows(executor: Executor, run_ids: Sequence[str]) -> list[dict[str, Any]]:
    """One row per γ: status and, when done, the figures that matter for choosing it and the checks it misses."""
    rows = []
    for run_id in run_ids:
        rec = executor.store.get(run_id)
        m = rec["metrics"] or {}
        u = (m.get("models") or {}).get("unlearned") or {}
        rows.append({"gamma": rec["config"].get("gamma"), "run_id": run_id, "status": rec["status"],
                     "weights_reset_fraction": m.get("weights_reset_fraction"), "acc_forget": u.get("acc_forget"),
                     "acc_test": u.get("acc_test"), "delta_acc_forget": (m.get("deltas") or {}).get("acc_forget"),
                     "delta_mia": (m.get("deltas") or {}).get("mia"), "seconds": u.get("seconds"),
                     "time_vs_gold": m.get("time_vs_gold"), "error": rec["error"],
                     "misses": misses(of_result(m)) if u else None})
    return rows
