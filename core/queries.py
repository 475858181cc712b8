"""Questions the pages and the command line ask of the run store, answered with typed results."""

from __future__ import annotations

from typing import Any, Iterator

from .methods import METHODS, get_method
from .result import UnlearnResult, result_of
from .store import RunStore


def load_result(store: RunStore, run_id: str) -> UnlearnResult | None:
    """The result of a run, or None while it has none (queued, running, failed)."""
    return result_of(store.get(run_id))


def finished_results(store: RunStore) -> list[tuple[dict[str, Any], UnlearnResult]]:
    """Every finished unlearning run that holds a result, newest first, with its record."""
    out = []
    for rec in store.list(kind="unlearn", status="done"):
        r = result_of(rec)
        if r is not None:
            out.append((rec, r))
    return out


def same_forget_set(store: RunStore, result: UnlearnResult) -> Iterator[tuple[dict[str, Any], UnlearnResult]]:
    """(record, result) of every finished unlearning run on the result's checkpoint and forget set, newest first."""
    sha, key = result.checkpoint.get("sha256"), result.forget.key
    for rec in store.list(kind="unlearn", status="done"):
        if rec["parent_sha256"] == sha and (rec["forget"] or {}) == key:
            r = result_of(rec)
            if r is not None:
                yield rec, r


def baselines_for(store: RunStore, result: UnlearnResult, exclude: str | None = None) -> dict[str, UnlearnResult]:
    """The newest finished result of every other method on the same checkpoint and forget set (cached runs)."""
    out: dict[str, UnlearnResult] = {}
    for rec, r in same_forget_set(store, result):
        if rec["id"] != exclude and r.method != result.method and r.method not in out:
            out[r.method] = r
    return out


def missing_baselines(store: RunStore, result: UnlearnResult) -> list[str]:
    """Methods that could serve this forget set and have no finished run on it yet (the gold reference aside)."""
    have = set(baselines_for(store, result)) | {result.method}
    return [n for n, m in METHODS.items()
            if n not in have and not m.reference and result.forget.kind in m.forget_kinds]


def sweep_results(store: RunStore, result: UnlearnResult) -> list[UnlearnResult]:
    """The newest finished run per value of the swept option, for the result's method (or, for a method that
    sweeps nothing, none) on the same checkpoint and forget set, sorted by value: the paper's Fig. 4."""
    m = get_method(result.method)
    if m.sweep is None:
        return []
    seen: dict[float, UnlearnResult] = {}
    for _, r in same_forget_set(store, result):
        value = r.config.get(m.sweep.option)
        if r.method == result.method and value is not None and float(value) not in seen:
            seen[float(value)] = r
    return [seen[v] for v in sorted(seen)]


def live_runs(store: RunStore) -> list[dict[str, Any]]:
    """Every queued or running run in the store (this server's and any other process's)."""
    return store.list(status="running") + store.list(status="queued")


def runs_using(store: RunStore, run_id: str) -> list[str]:
    """Unlearning runs whose results were judged against this run's model (a cached gold model they share)."""
    out = []
    for rec in store.list(kind="unlearn", status="done"):
        r = result_of(rec)
        if r is not None and r.gold_ref is not None and r.gold_ref.run_id == run_id:
            out.append(rec["id"])
    return out
