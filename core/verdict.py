"""Did the unlearned model land where gold did? Four plain-language checks against the spec's bars.

- forgotten: Acc(Df) close to gold's (a model that never saw Df is the target, not zero accuracy);
- kept: Acc(test) close to gold's (over the retained classes when classes were forgotten);
- private: the entropy MIA on Df close to gold's;
- fast: time at most a fraction of gold retraining's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from .config import Config, param


class Figures(Protocol):
    """What the checks read of a model (core.result.ModelMetrics has it)."""

    acc_forget: float
    mia_forget: float

    @property
    def judged_test(self) -> float: ...

    @property
    def judged_test_label(self) -> str: ...


class Judged(Protocol):
    """What `of_result` reads of a result (core.result.UnlearnResult has it)."""

    unlearned: Figures
    gold: Figures
    forget: Any  # has .kind
    time_vs_gold: float | None


@dataclass(frozen=True)
class Tolerances(Config):
    """How close to the gold model counts as matching it (the spec's and issues' bars)."""

    acc_forget_classes: float = param(0.02, "largest |ΔAcc(Df)| when forgetting classes (fraction)", low=0)
    acc_forget_samples: float = param(0.03, "largest |ΔAcc(Df)| when forgetting samples (fraction)", low=0)
    acc_test: float = param(0.02, "largest |Acc(test) − gold's| (fraction; retained classes for class forgetting)",
                            low=0)
    mia: float = param(0.05, "largest |ΔMIA| (fraction)", low=0)
    time_vs_gold: float = param(0.2, "largest time ÷ gold retraining time", low=0, low_open=True)


@dataclass(frozen=True)
class Check:
    """One verdict line: its name, whether it passed, and the figures behind it."""

    name: str
    passed: bool
    detail: str


# Float noise in differences of accuracies (k/n fractions) must not flip a check sitting on its bar.
_EPS = 1e-9


def checks(unlearned: Figures, gold: Figures, forget_kind: str, time_vs_gold: float | None,
           tol: Tolerances = Tolerances()) -> list[Check]:
    """The four checks for an unlearned model's metrics against gold's."""
    pts = lambda v: f"{100 * v:+.2f} pts"  # noqa: E731
    acc_f = tol.acc_forget_classes if forget_kind == "classes" else tol.acc_forget_samples
    d_forget = unlearned.acc_forget - gold.acc_forget
    d_test = unlearned.judged_test - gold.judged_test
    d_mia = unlearned.mia_forget - gold.mia_forget
    out = [
        Check("forgotten", abs(d_forget) <= acc_f + _EPS,
              f"Acc(Df) {100 * unlearned.acc_forget:.2f}% vs gold's {100 * gold.acc_forget:.2f}% "
              f"({pts(d_forget)}; bar ±{100 * acc_f:g})"),
        Check("kept", abs(d_test) <= tol.acc_test + _EPS,
              f"{unlearned.judged_test_label} {100 * unlearned.judged_test:.2f}% vs gold's "
              f"{100 * gold.judged_test:.2f}% ({pts(d_test)}; bar ±{100 * tol.acc_test:g})"),
        Check("private", abs(d_mia) <= tol.mia + _EPS,
              f"MIA on Df {100 * unlearned.mia_forget:.2f}% vs gold's {100 * gold.mia_forget:.2f}% "
              f"({pts(d_mia)}; bar ±{100 * tol.mia:g})"),
    ]
    if time_vs_gold is not None:
        out.append(Check("fast", time_vs_gold <= tol.time_vs_gold,
                         f"{time_vs_gold:.2f}× gold's time (bar ≤ {tol.time_vs_gold:g}×)"))
    return out


def of_result(result: Judged, tol: Tolerances = Tolerances()) -> list[Check]:
    """The checks of an unlearning result."""
    return checks(result.unlearned, result.gold, result.forget.kind, result.time_vs_gold, tol)


def misses(cs: list[Check]) -> str:
    """The names of the checks that failed, comma-separated, or "none"."""
    return ", ".join(c.name for c in cs if not c.passed) or "none"


def to_dict(cs: list[Check]) -> dict[str, dict[str, Any]]:
    """{name: {"passed", "detail"}} for JSON."""
    return {c.name: {"passed": c.passed, "detail": c.detail} for c in cs}


def text(cs: list[Check]) -> str:
    """One line per check, marked PASS or MISS."""
    return "\n".join(f"  {'PASS' if c.passed else 'MISS'}  {c.name:<9} {c.detail}" for c in cs)
