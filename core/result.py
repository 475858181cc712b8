"""The unlearning result as types: what `run_unlearn` returns, the store keeps and every reader reads.

`UnlearnResult.to_dict()` is the `--json` shape (see the README); `UnlearnResult.from_dict` reads it back
(also from records written by earlier versions). Facts derived from the figures — the deltas, the
Streisand flag, time ÷ gold, which test accuracy a class forget set is judged on — are computed here once.
The gold model is optional (`"models": {"gold": null}`): the gold-free audit judges every result.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from . import verdict as verdicts
from .audit import Audit
from .forget import ForgetSpec

# Streisand effect (seed paper): Acc(Df) this far (in accuracy, a fraction) below gold's reveals the
# forgetting itself, since a model that never saw the data would do as well on it as on unseen data.
STREISAND_MARGIN = 0.05
MODEL_ROLES = ("original", "unlearned", "gold")


@dataclass
class ModelMetrics:
    """One model's figures on Dr, Df and test (accuracies and MIA as fractions in [0, 1])."""

    acc_retain: float
    acc_forget: float
    acc_test: float
    mia_forget: float
    loss_auc: float
    js_to_gold: float | None  # None without a gold model
    seconds: float
    per_class_test: list[float | None] = field(default_factory=list)
    # Only for class forgetting: test accuracy over the retained classes and over the forgotten ones.
    acc_test_retained_classes: float | None = None
    acc_test_forgotten_classes: float | None = None

    @property
    def judged_test(self) -> float:
        """The test accuracy a forget set is judged on: over the retained classes when classes are forgotten
        (a model that forgot class c must get c's test images wrong), over every class otherwise."""
        return self.acc_test if self.acc_test_retained_classes is None else self.acc_test_retained_classes

    @property
    def judged_test_label(self) -> str:
        return "Acc(test)" if self.acc_test_retained_classes is None else "Acc(test, retained classes)"

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        if self.acc_test_retained_classes is None:  # the class-forgetting fields appear only for classes
            del d["acc_test_retained_classes"], d["acc_test_forgotten_classes"]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelMetrics":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass(frozen=True)
class ForgetInfo:
    """The forget set of a result: its spec, in words, and the sizes of Df and Dr."""

    spec: ForgetSpec
    forget_size: int
    retain_size: int

    @property
    def kind(self) -> str:
        return self.spec.kind

    @property
    def key(self) -> dict[str, Any]:
        """What identifies the forget set when matching runs (the spec, without sizes or words)."""
        return self.spec.to_dict()

    def to_dict(self) -> dict[str, Any]:
        return {**self.spec.to_dict(), "description": self.spec.describe(), "forget_size": self.forget_size,
                "retain_size": self.retain_size}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ForgetInfo":
        spec = ForgetSpec.from_dict({k: v for k, v in d.items() if k not in ("description", "forget_size", "retain_size")})
        return cls(spec, int(d.get("forget_size", 0)), int(d.get("retain_size", 0)))


@dataclass(frozen=True)
class GoldRef:
    """Where the gold model of a result came from: its run, whether it was read from the cache, its time."""

    run_id: str | None
    cached: bool
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"cached": self.cached, "run_id": self.run_id}


@dataclass
class UnlearnResult:
    """Everything one unlearning run produced and how it compares with the original and gold models."""

    run_id: str | None
    method: str
    config: dict[str, Any]
    checkpoint: dict[str, str]  # {"path", "sha256"} of the input checkpoint
    dataset: str
    classes: list[str]
    forget: ForgetInfo
    models: dict[str, ModelMetrics | None]  # "original", "unlearned", "gold" (None without a gold model)
    gold_ref: GoldRef | None
    seconds_standalone: float  # the method alone, a shared importance pass counted in (see `seconds`)
    weights_changed_fraction: float
    per_layer: dict[str, dict[str, Any]]
    phases: dict[str, float]
    weights_reset_fraction: float | None = None
    info: dict[str, Any] = field(default_factory=dict)
    distributions: dict[str, Any] = field(default_factory=dict)
    forget_examples: dict[str, Any] = field(default_factory=dict)
    artifact: dict[str, str] | None = None
    audit: Audit | None = None
    verdict_checks: list[verdicts.Check] | None = None  # with intervals, as judged when the run finished
    retrain_seconds: float | None = None  # retraining's cost, estimated in the same job
    gamma_search: dict[str, Any] | None = None  # automatic γ's search: {"chosen", "tried": [...]}

    @property
    def original(self) -> ModelMetrics:
        return self.models["original"]

    @property
    def unlearned(self) -> ModelMetrics:
        return self.models["unlearned"]

    @property
    def gold(self) -> ModelMetrics | None:
        return self.models.get("gold")

    @property
    def seconds(self) -> float:
        """The run's one time: what the method costs run alone. A Fisher pass another method of a comparison
        computed first is counted in, so every method is timed as if it ran by itself."""
        return self.seconds_standalone

    @property
    def time_vs_gold(self) -> float | None:
        """Time ÷ the gold model's own training time (whenever and under whatever load that ran)."""
        return self.seconds / self.gold_ref.seconds if self.gold_ref and self.gold_ref.seconds else None

    @property
    def time_vs_retrain(self) -> float | None:
        """Time ÷ retraining's cost estimated in the same job: what the fast checks judge."""
        return self.seconds / self.retrain_seconds if self.retrain_seconds else None

    @property
    def deltas(self) -> dict[str, float] | None:
        """The paper's deltas: ΔAcc(Df) and ΔMIA, unlearned minus gold (None without gold)."""
        if self.gold is None:
            return None
        return {"acc_forget": self.unlearned.acc_forget - self.gold.acc_forget,
                "mia": self.unlearned.mia_forget - self.gold.mia_forget}

    @property
    def streisand(self) -> bool | None:
        """Acc(Df) well below gold's: forgetting by refusing, which itself leaks (None without gold)."""
        return None if self.gold is None else self.unlearned.acc_forget < self.gold.acc_forget - STREISAND_MARGIN

    @property
    def verdict(self) -> list[verdicts.Check]:
        """The checks against gold (forgotten, kept, private, fast) with their intervals; point-only for records
        made before intervals were kept; empty without a gold model."""
        if self.verdict_checks is not None:
            return self.verdict_checks
        if self.gold is None:
            return []
        return verdicts.checks(self.unlearned, self.gold, self.forget.kind, self.time_vs_gold)

    def to_dict(self) -> dict[str, Any]:
        """The `--json` shape (every field name of earlier versions kept)."""
        d = {
            "run_id": self.run_id, "method": self.method, "config": self.config, "checkpoint": self.checkpoint,
            "dataset": self.dataset, "classes": self.classes, "forget": self.forget.to_dict(),
            "models": {k: m.to_dict() if (m := self.models.get(k)) is not None else None for k in MODEL_ROLES},
            "deltas": self.deltas, "streisand": self.streisand,
            "weights_reset_fraction": self.weights_reset_fraction,
            "weights_changed_fraction": self.weights_changed_fraction, "per_layer": self.per_layer,
            "phases": self.phases, "time_vs_gold": self.time_vs_gold, "seconds": self.seconds,
            "seconds_standalone": self.seconds_standalone, "retrain_seconds_estimate": self.retrain_seconds,
            "time_vs_retrain": self.time_vs_retrain,
            "gold": self.gold_ref.to_dict() if self.gold_ref else None, "info": self.info,
            "distributions": self.distributions, "forget_examples": self.forget_examples,
            "verdict": verdicts.to_dict(self.verdict) if self.gold is not None else None,
            "audit": self.audit.to_dict() if self.audit else None,
        }
        if self.gamma_search is not None:
            d["gamma_search"] = self.gamma_search
        if self.artifact is not None:
            d["artifact"] = self.artifact
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "UnlearnResult":
        models = {k: ModelMetrics.from_dict(v) if v is not None else None for k, v in d["models"].items()}
        gold = d.get("gold") or {}
        gold_ref = GoldRef(gold.get("run_id"), bool(gold.get("cached")), models["gold"].seconds) \
            if models.get("gold") is not None else None
        stored = d.get("verdict") or {}
        with_intervals = any("status" in v for v in stored.values())  # records since intervals were kept
        return cls(
            run_id=d.get("run_id"), method=d["method"], config=d.get("config") or {},
            checkpoint=d.get("checkpoint") or {}, dataset=d.get("dataset", ""), classes=d.get("classes") or [],
            forget=ForgetInfo.from_dict(d["forget"]), models=models, gold_ref=gold_ref,
            seconds_standalone=d.get("seconds_standalone", models["unlearned"].seconds),
            weights_changed_fraction=d.get("weights_changed_fraction", 0.0), per_layer=d.get("per_layer") or {},
            phases=d.get("phases") or {}, weights_reset_fraction=d.get("weights_reset_fraction"),
            info=d.get("info") or {}, distributions=d.get("distributions") or {},
            forget_examples=d.get("forget_examples") or {}, artifact=d.get("artifact"),
            audit=Audit.from_dict(d["audit"]) if d.get("audit") else None,
            verdict_checks=verdicts.from_dict(stored) if with_intervals else None,
            retrain_seconds=d.get("retrain_seconds_estimate"), gamma_search=d.get("gamma_search"),
        )


def result_of(record: dict[str, Any]) -> UnlearnResult | None:
    """The result a finished unlearn (or gold-as-method) run record holds, or None when it holds none.

    The one way results are read back from the run store."""
    metrics = record.get("metrics") or {}
    if not metrics.get("models"):
        return None
    result = UnlearnResult.from_dict(metrics)
    if result.run_id is None:
        result.run_id = record.get("id")
    return result
