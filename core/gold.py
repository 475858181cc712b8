"""The gold model: the checkpoint retrained from scratch without Df, cached in the run store per forget set."""

from __future__ import annotations

import copy
import time

from torch import nn

from . import config as cfgmod
from .checkpoint import load_checkpoint, save_checkpoint
from .methods import reference_method
from .prepare import Prepared, cache_key, child_card
from .progress import Progress, no_progress
from .result import GoldRef
from .store import RunStore, track


def gold_model(prep: Prepared, store: RunStore | None, progress: Progress = no_progress) -> tuple[nn.Module, GoldRef]:
    """The gold model for this checkpoint and forget set: from the store's cache, or retrained and cached."""
    reference = reference_method()
    tcfg = cfgmod.to_dict(prep.task.train_config)
    key = cache_key(prep, reference.name, tcfg)
    if store is not None:
        hit = store.find_cached(key)
        if hit is not None:
            model, _ = load_checkpoint(hit["artifact_path"])
            return model.to(prep.task.device).eval(), GoldRef(hit["id"], True, hit["timings"]["train"])
    with track(store, "gold", method=reference.name, dataset=prep.dataset.name, config=tcfg,
               forget=prep.spec.to_dict(), parent_sha256=prep.card["sha256"], parent_path=str(prep.checkpoint),
               cache_key=key) as run:
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
