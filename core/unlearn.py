"""Run an unlearning method on a checkpoint and forget set, judge it against the gold model, record it all."""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from . import config as cfgmod
from . import verdict
from .checkpoint import load_checkpoint, save_checkpoint
from .data import Dataset
from .evaluate import Outputs, outputs
from .forget import ForgetSpec, resolve
from .methods import METHODS, MethodError, UnlearnTask, get_method
from .metrics import deltas, distributions, forget_examples, model_metrics, per_layer_changed, streisand, weights_changed_fraction
from .runtime import Progress, no_progress, pick_device
from .store import RunStore
from .train import TrainConfig
from .workflows import dataset_of, norm_of, store_progress


@dataclass
class Prepared:
    """A checkpoint, its dataset and a resolved forget set, ready for any method (shared by comparisons)."""

    checkpoint: Path
    model: nn.Module
    card: dict[str, Any]
    dataset: Dataset
    spec: ForgetSpec
    forget_idx: np.ndarray
    retain_idx: np.ndarray
    task: UnlearnTask
    test: torch.utils.data.TensorDataset
    original_outputs: dict[str, Outputs] | None = None

    def sets(self) -> dict[str, torch.utils.data.TensorDataset]:
        return {"retain": self.task.retain, "forget": self.task.forget, "test": self.test}

    def forget_info(self) -> dict[str, Any]:
        return {**self.spec.to_dict(), "description": self.spec.describe(),
                "forget_size": int(len(self.forget_idx)), "retain_size": int(len(self.retain_idx))}


def prepare(checkpoint: str | Path, spec: ForgetSpec, *, card: dict | None = None, device: str = "auto",
            dataset: Dataset | None = None, progress: Progress = no_progress) -> Prepared:
    """Load the checkpoint (read-only) and its dataset, resolve Df and Dr, and build the method task."""
    model, card = load_checkpoint(checkpoint, card)
    dataset = dataset or dataset_of(card)
    if list(dataset.input_shape) != list(card["input_shape"]) or dataset.num_classes != card["num_classes"]:
        raise ValueError(f"the checkpoint expects {card['input_shape']} inputs and {card['num_classes']} classes, "
                         f"but {dataset.name} has {list(dataset.input_shape)} and {dataset.num_classes}")
    forget_idx, retain_idx = resolve(spec, dataset.y_train, dataset.num_classes)
    dev = pick_device(device)
    norm = norm_of(card)
    recipe_cfg = cfgmod.from_dict(TrainConfig, card.get("recipe", {})).resolved(dataset.recipe)
    task = UnlearnTask(
        forget=dataset.tensors("train", forget_idx, norm), retain=dataset.tensors("train", retain_idx, norm),
        num_classes=dataset.num_classes, forget_kind=spec.kind,
        forget_classes=spec.classes if spec.kind == "classes" else (), recipe=dataset.recipe,
        train_config=recipe_cfg, card=card, device=dev, progress=progress,
    )
    return Prepared(Path(checkpoint), model.to(dev).eval(), card, dataset, spec, forget_idx, retain_idx, task,
                    dataset.tensors("test", norm=norm))


def cache_key(prep: Prepared, method: str, method_config: dict) -> str:
    """Identity of a result: (checkpoint sha256, dataset, forget spec, method, config)."""
    ident = {"checkpoint": prep.card["sha256"], "dataset": prep.dataset.name, "forget": prep.spec.to_dict(),
             "method": method, "config": method_config}
    return hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()


class PhaseClock:
    """Wraps a progress callback and times each phase (a phase lasts from the previous one's end to its last report)."""

    def __init__(self, inner: Progress) -> None:
        self.inner = inner
        self.phases: dict[str, float] = {}
        self._mark = time.perf_counter()
        self._current: str | None = None

    def __call__(self, phase: str, fraction: float, message: str = "") -> None:
        now = time.perf_counter()
        self.phases[phase] = self.phases.get(phase, 0.0) + (now - self._mark)
        self._mark = now
        self.inner(phase, fraction, message)

    def exclude(self, phase: str) -> None:
        """Drop a phase that is reported elsewhere (gold retraining) and restart the clock from now."""
        self.phases.pop(phase, None)
        self._mark = time.perf_counter()

    def rounded(self) -> dict[str, float]:
        return {k: round(v, 4) for k, v in self.phases.items()}


def gold_model(prep: Prepared, store: RunStore | None, progress: Progress = no_progress) -> tuple[nn.Module, dict]:
    """The gold model for this checkpoint and forget set: from the store's cache, or retrained and cached."""
    tcfg = cfgmod.to_dict(prep.task.train_config)
    key = cache_key(prep, "gold", tcfg)
    if store is not None:
        hit = store.find_cached(key)
        if hit is not None:
            model, _ = load_checkpoint(hit["artifact_path"])
            return model.to(prep.task.device).eval(), {"seconds": hit["timings"]["train"], "cached": True,
                                                        "run_id": hit["id"]}
    run_id = None
    if store is not None:
        run_id = store.create("gold", method="gold", dataset=prep.dataset.name, config=tcfg,
                              forget=prep.spec.to_dict(), parent_sha256=prep.card["sha256"],
                              parent_path=str(prep.checkpoint), cache_key=key)
        store.start(run_id)
    task = copy.copy(prep.task)
    task.progress = progress
    try:
        t0 = time.perf_counter()
        model, info = METHODS["gold"].run(None, task, METHODS["gold"].config())
        seconds = time.perf_counter() - t0
        if store is not None:
            path = store.artifact_dir(run_id) / "gold.safetensors"
            card = save_checkpoint(model, _child_card(prep, run_id, "gold", tcfg), path)
            store.finish(run_id, metrics={"epochs": info["epochs"]}, timings={"train": seconds},
                         artifact_path=str(path), artifact_sha256=card["sha256"])
    except BaseException as e:
        if store is not None:
            store.fail(run_id, f"{type(e).__name__}: {e}")
            shutil.rmtree(store.artifacts / run_id, ignore_errors=True)
        raise
    return model, {"seconds": seconds, "cached": False, "run_id": run_id}


def _child_card(prep: Prepared, run_id: str | None, method: str, config: dict) -> dict:
    card = {k: v for k, v in prep.card.items() if k not in ("sha256", "file", "created", "accuracy")}
    return {**card, "parent_run": run_id, "parent_sha256": prep.card["sha256"], "method": method,
            "method_config": config, "forget": prep.spec.to_dict()}


def check_finite(model: nn.Module, method: str) -> None:
    """Refuse a diverged result (NaN or infinite weights) with a message that says what to change."""
    bad = [n for n, p in model.named_parameters() if not torch.isfinite(p).all()]
    if bad:
        raise MethodError(f"{method} diverged: {len(bad)} weight tensors became NaN or infinite (first: {bad[0]}). "
                          f"Lower its learning rate or its number of epochs and run it again.")


def evaluate_all(model: nn.Module, prep: Prepared) -> dict[str, Outputs]:
    return {name: outputs(model, data, device=prep.task.device) for name, data in prep.sets().items()}


def original_outputs(prep: Prepared) -> dict[str, Outputs]:
    """The original model's outputs on Dr, Df and test (computed once per prepared task)."""
    if prep.original_outputs is None:
        prep.original_outputs = evaluate_all(prep.model, prep)
    return prep.original_outputs


def run_unlearn(checkpoint: str | Path, spec: ForgetSpec, method: str = "deepclean", method_config: Any = None, *,
                card: dict | None = None, device: str = "auto", store: RunStore | None = None,
                progress: Progress = no_progress, prepared: Prepared | None = None, run_id: str | None = None,
                gold: tuple[nn.Module, dict] | None = None, dataset: Dataset | None = None) -> dict[str, Any]:
    """Unlearn `spec` from `checkpoint` with `method`; returns the unlearn JSON (see README) and records the run.

    The input checkpoint is only read. On failure the run record holds the error and any partial
    artifact is removed.
    """
    m = get_method(method)
    cfg = method_config if method_config is not None else m.config()
    m.check(spec.kind)
    cfg_dict = cfgmod.to_dict(cfg)
    if store is not None and run_id is None:
        run_id = store.create("gold" if method == "gold" else "unlearn", method=method, config=cfg_dict,
                              forget=spec.to_dict(), parent_path=str(checkpoint))
    if store is not None:
        store.start(run_id)
        progress = store_progress(store, run_id, progress)
    clock = PhaseClock(progress)
    try:
        prep = prepared or prepare(checkpoint, spec, card=card, device=device, dataset=dataset, progress=clock)
        prep.task.progress = clock
        if store is not None:
            store.update(run_id, dataset=prep.dataset.name, parent_sha256=prep.card["sha256"],
                         cache_key=cache_key(prep, method, cfg_dict))
        original = original_outputs(prep)
        gold_net, gold_info = gold or gold_model(prep, store, clock)
        clock.exclude("gold retraining")  # gold's time is reported on its own, not as a phase

        t0 = time.perf_counter()
        reused = 0.0
        if method == "gold":
            unlearned, info = gold_net, {"cached": gold_info["cached"]}
            seconds = gold_info["seconds"]
        else:
            cached_before = set(prep.task.importance.values)
            prep.task.importance.accessed.clear()
            unlearned, info = m.run(copy.deepcopy(prep.model), prep.task, cfg)
            seconds = time.perf_counter() - t0
            check_finite(unlearned, method)
            reused = prep.task.importance.reused_seconds(cached_before)
        clock("evaluation", 0.0, "")
        outs = {"original": original, "gold": evaluate_all(gold_net, prep), "unlearned": evaluate_all(unlearned, prep)}
        gold_probs = outs["gold"]["forget"].probs
        times = {"original": 0.0, "gold": gold_info["seconds"], "unlearned": seconds}
        models = {name: model_metrics(o["retain"], o["forget"], o["test"], num_classes=prep.dataset.num_classes,
                                      forget_classes=prep.task.forget_classes, gold_forget_probs=gold_probs,
                                      seconds=times[name], seed=prep.task.seed)
                  for name, o in outs.items()}
        clock("evaluation", 1.0, "")
        result = {
            "run_id": run_id, "method": method, "config": {**cfg_dict, **({"gamma": info["gamma"]} if "gamma" in info else {})},
            "checkpoint": {"path": str(prep.checkpoint), "sha256": prep.card["sha256"]},
            "dataset": prep.dataset.name, "classes": prep.dataset.classes, "forget": prep.forget_info(),
            "models": {k: models[k] for k in ("original", "unlearned", "gold")},
            "deltas": deltas(models["unlearned"], models["gold"]),
            "streisand": streisand(models["unlearned"], models["gold"]),
            "weights_reset_fraction": info.get("weights_reset_fraction"),
            "weights_changed_fraction": weights_changed_fraction(prep.model, unlearned),
            "per_layer": {n: {"reset_fraction": c["selected"] / c["total"], **c} for n, c in info["per_layer"].items()}
            if "per_layer" in info else {n: {"changed_fraction": f} for n, f in per_layer_changed(prep.model, unlearned).items()},
            "phases": clock.rounded(),
            "time_vs_gold": seconds / gold_info["seconds"] if gold_info["seconds"] else None,
            # A comparison shares Fisher passes between methods; this is what the method would cost alone.
            "seconds_standalone": seconds + reused,
            "gold": {"cached": gold_info["cached"], "run_id": gold_info["run_id"]},
            "info": {k: v for k, v in info.items() if k != "per_layer"},
            "distributions": distributions(outs, seed=prep.task.seed),
            "forget_examples": forget_examples(outs, prep.forget_idx),
        }
        result["verdict"] = verdict.to_dict(verdict.of_result(result))
        if store is not None and method != "gold":
            path = store.artifact_dir(run_id) / "unlearned.safetensors"
            card_out = save_checkpoint(unlearned.cpu(), _child_card(prep, run_id, method, result["config"]), path)
            result["artifact"] = {"path": str(path), "sha256": card_out["sha256"]}
            store.finish(run_id, metrics=result, timings=result["phases"], artifact_path=str(path),
                         artifact_sha256=card_out["sha256"])
        elif store is not None:
            store.finish(run_id, metrics=result, timings={"train": seconds})
        return result
    except BaseException as e:
        if store is not None:
            from .runtime import Cancelled

            store.fail(run_id, f"{type(e).__name__}: {e}", status="cancelled" if isinstance(e, Cancelled) else "failed")
            if method != "gold":
                shutil.rmtree(store.artifacts / run_id, ignore_errors=True)
        raise
