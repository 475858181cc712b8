"""Run an unlearning method on a checkpoint and forget set, judge it against the gold model, record it all."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from . import config as cfgmod
from .audit import Audit, Views, audit, correct
from .checkpoint import save_checkpoint
from .data import Dataset
from .evaluate import Outputs
from .forget import ForgetSpec
from .gold import gold_model
from .methods import DEFAULT_METHOD, Method, MethodError, get_method
from .metrics import distributions, forget_examples, model_metrics, per_layer_changed, weights_changed_fraction
from .mia import EntropyAttack
from .prepare import Prepared, cache_key, child_card, prepare
from .progress import Progress, no_progress
from .result import GoldRef, ModelMetrics, UnlearnResult
from .store import ActiveRun, RunStore, track
from .verdict import Evidence, gold_checks


class PhaseClock:
    """Wraps a progress callback and times each phase (a phase lasts from the previous one's end to its last report)."""

    def __init__(self, inner: Progress) -> None:
        self.inner = inner
        self.phases: dict[str, float] = {}
        self._mark = time.perf_counter()

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


@dataclass
class Outcome:
    """What applying a method produced: the model, its info, the time measured and the shared time reused."""

    model: nn.Module
    info: dict[str, Any]
    seconds: float
    reused_seconds: float = 0.0


def check_finite(model: nn.Module, method: str) -> None:
    """Refuse a diverged result (NaN or infinite weights) with a message that says what to change."""
    bad = [n for n, p in model.named_parameters() if not torch.isfinite(p).all()]
    if bad:
        raise MethodError(f"{method} diverged: {len(bad)} weight tensors became NaN or infinite (first: {bad[0]}). "
                          f"Lower its learning rate or its number of epochs and run it again.")


def apply_method(m: Method, cfg: Any, prep: Prepared, gold: tuple[nn.Module, GoldRef] | None) -> Outcome:
    """Run the method on a copy of the original model (the reference method's model is gold itself)."""
    if m.reference:
        if gold is None:
            raise MethodError(f"{m.name} is the retrained model itself; run it with gold 'train', not 'none'")
        return Outcome(gold[0], {"cached": gold[1].cached}, gold[1].seconds)
    cached_before = set(prep.task.importance.values)
    prep.task.importance.accessed.clear()
    t0 = time.perf_counter()
    model, info = m.run(copy.deepcopy(prep.model), prep.task, cfg)
    seconds = time.perf_counter() - t0
    check_finite(model, m.name)
    # A comparison shares importance passes between methods: what this one reused is added back to its time.
    return Outcome(model, info, seconds, prep.task.importance.reused_seconds(cached_before))


def judge(prep: Prepared, outcome: Outcome, gold: tuple[nn.Module, GoldRef] | None):
    """Each model's metrics (original, unlearned, gold if any), the per-sample evidence the verdict resamples,
    the models' outputs, and the per-sample views the Results page draws."""
    outs: dict[str, dict[str, Outputs]] = {"original": prep.original(), "unlearned": prep.evaluate(outcome.model)}
    if gold is not None:
        outs["gold"] = prep.evaluate(gold[0])
    seconds = {"original": 0.0, "gold": gold[1].seconds if gold else 0.0, "unlearned": outcome.seconds}
    gold_probs = outs["gold"]["forget"].probs if gold is not None else None
    models: dict[str, ModelMetrics | None] = {"gold": None}
    evidence: dict[str, Evidence] = {}
    for name, o in outs.items():
        attack = EntropyAttack.fit(o["retain"].probs, o["test"].probs, prep.task.seed)
        models[name] = model_metrics(o["retain"], o["forget"], o["test"], num_classes=prep.dataset.num_classes,
                                     forget_classes=prep.task.forget_classes, gold_forget_probs=gold_probs,
                                     seconds=seconds[name], seed=prep.task.seed, attack=attack)
        judged = ~np.isin(o["test"].labels, prep.task.forget_classes)  # every test image for sample forgetting
        evidence[name] = Evidence(forget_correct=correct(o["forget"]), test_correct=correct(o["test"])[judged],
                                  forget_member=attack.is_member(o["forget"].probs).astype(float))
    views = {"distributions": distributions(outs, seed=prep.task.seed),
             "forget_examples": forget_examples(outs, prep.forget_idx)}
    return models, evidence, outs, views


def audit_of(prep: Prepared, outs: dict[str, dict[str, Outputs]], tuned: bool, time_ratio: float | None) -> Audit:
    """The gold-free audit with intervals: on the reference half a search did not tune on, else on all of it."""
    reference = prep.report_half if tuned else prep.reference
    return audit(Views.from_outputs(outs["unlearned"], reference), Views.from_outputs(outs["original"], reference),
                 reference, prep.spec.kind, time_ratio=time_ratio, seed=prep.task.seed)


def weight_report(prep: Prepared, outcome: Outcome) -> dict[str, Any]:
    """How the weights moved: the fraction changed, and per parameter tensor either the fraction the method
    selected (when it reports a selection) or the fraction that changed."""
    selected = outcome.info.get("per_layer")
    per_layer = ({n: {"reset_fraction": c["selected"] / c["total"], **c} for n, c in selected.items()} if selected
                 else {n: {"changed_fraction": f} for n, f in per_layer_changed(prep.model, outcome.model).items()})
    return {"weights_changed_fraction": weights_changed_fraction(prep.model, outcome.model), "per_layer": per_layer,
            "weights_reset_fraction": outcome.info.get("weights_reset_fraction")}


def save_unlearned(run: ActiveRun, prep: Prepared, result: UnlearnResult, model: nn.Module) -> None:
    """Write the unlearned model and its card as the run's artifact (with a store)."""
    path = run.artifact_dir() / "unlearned.safetensors"
    card = save_checkpoint(model.cpu(), child_card(prep, run.id, result.method, result.config), path)
    result.artifact = {"path": str(path), "sha256": card["sha256"]}


def run_unlearn(checkpoint: str | Path, spec: ForgetSpec, method: str = DEFAULT_METHOD, method_config: Any = None, *,
                card: dict | None = None, device: str = "auto", store: RunStore | None = None,
                progress: Progress = no_progress, prepared: Prepared | None = None, run_id: str | None = None,
                gold: tuple[nn.Module, GoldRef] | None = None, gold_mode: str = "train",
                dataset: Dataset | None = None) -> UnlearnResult:
    """Unlearn `spec` from `checkpoint` with `method`, audit it gold-free, and judge it against gold where
    `gold_mode` allows (`train`, `cached`, `none`: see core/gold.py); records the run in `store`.

    The input checkpoint is only read. On failure the run record holds the error and any partial artifact
    is removed. `run_id` names a queued record to run (a job's); `prepared` and `gold` let a comparison share
    them between methods.
    """
    m = get_method(method)
    cfg = method_config if method_config is not None else m.config()
    m.check(spec.kind)
    cfg_dict = cfgmod.to_dict(cfg)
    with track(store, "gold" if m.reference else "unlearn", run_id=run_id, method=method, config=cfg_dict,
               forget=spec.to_dict(), parent_path=str(checkpoint)) as run:
        clock = PhaseClock(run.progress(progress))
        prep = prepared or prepare(checkpoint, spec, card=card, device=device, dataset=dataset, progress=clock)
        prep.task.progress = clock
        run.update(dataset=prep.dataset.name, parent_sha256=prep.card["sha256"],
                   cache_key=cache_key(prep, method, cfg_dict))
        prep.original()
        clock("retraining cost", 0.0, "timing a few steps of the recipe")
        retrain_seconds = prep.retrain_seconds()
        clock("retraining cost", 1.0, "")
        gold = gold if gold is not None else gold_model(prep, store, clock, gold_mode)
        clock.exclude("gold retraining")  # gold's time is reported on its own, not as a phase
        outcome = apply_method(m, cfg, prep, gold)
        clock("evaluation", 0.0, "")
        models, evidence, outs, views = judge(prep, outcome, gold)
        swept = m.swept_value(cfg, spec.kind, outcome.info)
        config = {**cfg_dict, **({m.sweep.option: swept} if swept is not None else {})}
        seconds = outcome.seconds + outcome.reused_seconds
        time_ratio = seconds / retrain_seconds if retrain_seconds else None
        verdict = gold_checks(evidence["unlearned"], evidence["gold"], spec.kind, time_ratio,
                              test_label=models["unlearned"].judged_test_label, seed=prep.task.seed) \
            if gold is not None else None
        search = outcome.info.pop("gamma_search", None)
        result = UnlearnResult(
            run_id=run.id, method=method, config=config,
            checkpoint={"path": str(prep.checkpoint), "sha256": prep.card["sha256"]},
            dataset=prep.dataset.name, classes=prep.dataset.classes, forget=prep.forget_info(), models=models,
            gold_ref=gold[1] if gold else None, seconds_standalone=seconds, phases={},
            info={k: v for k, v in outcome.info.items() if k != "per_layer"}, **weight_report(prep, outcome),
            **views, audit=audit_of(prep, outs, search is not None, time_ratio), verdict_checks=verdict,
            retrain_seconds=retrain_seconds, gamma_search=search)
        clock("evaluation", 1.0, "")
        result.phases = clock.rounded()
        if store is not None and not m.reference:
            save_unlearned(run, prep, result, outcome.model)
            run.finish(metrics=result.to_dict(), timings=result.phases, artifact_path=result.artifact["path"],
                       artifact_sha256=result.artifact["sha256"])
        else:
            run.finish(metrics=result.to_dict(), timings={"train": outcome.seconds})
        return result
