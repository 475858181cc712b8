"""The gold model: the checkpoint retrained from scratch without Df, cached in the run store per forget set.

Gold is the papers' yardstick and the cost unlearning exists to avoid; it is optional: `train` retrains it
unless the store has it cached, `cached` uses it only if cached, `none` never uses it (the gold-free audit
then judges alone).
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

from torch import nn

from . import config as cfgmod
from .checkpoint import load_checkpoint, save_checkpoint
from .forget import ForgetSpec
from .methods import reference_method
from .prepare import Prepared, cache_key, child_card
from .progress import Progress, no_progress
from .result import GoldRef
from .store import RunStore, track

GOLD_MODES = ("train", "cached", "none")
GOLD_HELP = ("the gold model (retrained without Df): 'train' retrains it unless cached, 'cached' uses it only if "
             "cached, 'none' judges by the gold-free audit alone")


def gold_key(prep: Prepared) -> str:
    """The cache key of this checkpoint and forget set's gold model."""
    return cache_key(prep, reference_method().name, cfgmod.to_dict(prep.task.train_config))


def cached_gold(prep: Prepared, store: RunStore | None) -> tuple[nn.Module, GoldRef] | None:
    """The gold model from the store's cache, or None."""
    hit = store.find_cached(gold_key(prep)) if store is not None else None
    if hit is None:
        return None
    model, _ = load_checkpoint(hit["artifact_path"])
    return model.to(prep.task.device).eval(), GoldRef(hit["id"], True, hit["timings"]["train"])


def gold_model(prep: Prepared, store: RunStore | None, progress: Progress = no_progress,
               mode: str = "train") -> tuple[nn.Module, GoldRef] | None:
    """The gold model for this checkpoint and forget set, as `mode` allows: from the cache, retrained (and
    cached), or None."""
    if mode not in GOLD_MODES:
        raise ValueError(f"gold must be one of {', '.join(GOLD_MODES)}; got {mode!r}")
    if mode == "none":
        return None
    hit = cached_gold(prep, store)
    if hit is not None or mode == "cached":
        return hit
    reference = reference_method()
    tcfg = cfgmod.to_dict(prep.task.train_config)
    with track(store, "gold", method=reference.name, dataset=prep.dataset.name, config=tcfg,
               forget=prep.spec.to_dict(), parent_sha256=prep.card["sha256"], parent_path=str(prep.checkpoint),
               cache_key=gold_key(prep)) as run:
        task = copy.copy(prep.task)
        task.progress = run.progress(progress)
        t0 = time.perf_counter()
        model, info = reference.run(None, task, reference.config())
        seconds = time.perf_counter() - t0
        if store is not None:
            path = run.artifact_dir() / "gold.safetensors"
            card = save_checkpoint(model, child_card(prep, run.id, reference.name, tcfg), path)
            run.finish(metrics={"epochs": info["epochs"]}, timings={"train": seconds}, artifact_path=str(path),
                       artifact_sha256=card["sha256"])
    return model, GoldRef(run.id, False, seconds)


def gold_status(checkpoint: str | Path, spec: ForgetSpec, store: RunStore | None, *,
                device: str = "cpu") -> dict[str, Any]:
    """What choosing gold would cost for this checkpoint and forget set: whether it is cached, and retraining's
    time estimated here and now (a few steps of the recipe), for the Unlearn page's choice."""
    from .prepare import prepare

    prep = prepare(checkpoint, spec, device=device)
    cached = store is not None and store.find_cached(gold_key(prep)) is not None
    return {"cached": cached, "estimate_seconds": prep.retrain_seconds()}
