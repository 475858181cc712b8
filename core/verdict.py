"""Did the unlearned model land where gold did? Four plain-language checks against the spec's bars.

- forgotten: Acc(Df) close to gold's (a model that never saw Df is the target, not zero accuracy);
- kept: Acc(test) close to gold's (over the retained classes when classes were forgotten);
- private: the entropy MIA on Df close to gold's;
- fast: time at most a fraction of retraining's.

Each figure is a difference between the two models on the same samples, with a 95% paired bootstrap
interval (`core/stats.py`): a check passes when the whole interval lies within its tolerance, misses when
the whole interval lies outside, and is inconclusive (`passed` None) when the interval straddles the bar —
then it says about how many samples would settle it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from .config import Config, param
from .stats import SETTLE_MAX_FACTOR, Interval, paired_difference, samples_to_settle


class Figures(Protocol):
    """What the point-only checks read of a model (core.result.ModelMetrics has it)."""

    acc_forget: float
    mia_forget: float

    @property
    def judged_test(self) -> float: ...

    @property
    def judged_test_label(self) -> str: ...


@dataclass(frozen=True)
class Tolerances(Config):
    """How close to the gold model counts as matching it (the spec's and issues' bars)."""

    acc_forget_classes: float = param(0.02, "largest |ΔAcc(Df)| when forgetting classes (fraction)", low=0)
    acc_forget_samples: float = param(0.03, "largest |ΔAcc(Df)| when forgetting samples (fraction)", low=0)
    acc_test: float = param(0.02, "largest |Acc(test) − gold's| (fraction; retained classes for class forgetting)",
                            low=0)
    mia: float = param(0.05, "largest |ΔMIA| (fraction)", low=0)
    time_vs_gold: float = param(0.2, "largest time ÷ retraining time", low=0, low_open=True)


@dataclass(frozen=True)
class Check:
    """One verdict line: its name, whether it passed (None: inconclusive), the figures behind it in words,
    the figure with its interval, and about how many samples would settle an inconclusive one."""

    name: str
    passed: bool | None
    detail: str
    figure: Interval | None = None
    settle_n: int | None = None

    @property
    def status(self) -> str:
        return {True: "pass", False: "miss", None: "inconclusive"}[self.passed]

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"passed": self.passed, "detail": self.detail, "status": self.status}
        if self.figure is not None:
            d["figure"] = self.figure.to_dict()
        if self.settle_n is not None:
            d["samples_to_settle"] = self.settle_n
        return d

    @classmethod
    def from_dict(cls, name: str, d: dict[str, Any]) -> "Check":
        fig = d.get("figure")
        return cls(name, d.get("passed"), d.get("detail", ""), Interval.from_dict(fig) if fig else None,
                   d.get("samples_to_settle"))


# Float noise in differences of accuracies (k/n fractions) must not flip a check sitting on its bar.
_EPS = 1e-9


def within(iv: Interval, tol: float) -> bool | None:
    """Pass if the whole interval lies in [−tol, tol], miss if it lies wholly outside, else None."""
    if -tol - _EPS <= iv.low and iv.high <= tol + _EPS:
        return True
    if iv.high < -tol - _EPS or iv.low > tol + _EPS:
        return False
    return None


def at_most(iv: Interval, bound: float) -> bool | None:
    """Pass if the whole interval lies at or below `bound`, miss if wholly above, else None."""
    if iv.high <= bound + _EPS:
        return True
    if iv.low > bound + _EPS:
        return False
    return None


def at_least(iv: Interval, bound: float) -> bool | None:
    """Pass if the whole interval lies at or above `bound`, miss if wholly below, else None."""
    if iv.low >= bound - _EPS:
        return True
    if iv.high < bound - _EPS:
        return False
    return None


def pts(v: float) -> str:
    return f"{100 * v:+.2f} pts"


def ci_text(iv: Interval, scale: float = 100, unit: str = " pts", signed: bool = True) -> str:
    """"; 95% CI −1.50 to +2.30 pts" for a difference, "; 95% CI 41.0–55.1%" for a level (empty if exact)."""
    if iv.n == 0:
        return ""
    if signed:
        return f"; 95% CI {scale * iv.low:+.2f} to {scale * iv.high:+.2f}{unit}"
    digits = 1 if scale == 100 else 3
    return f"; 95% CI {scale * iv.low:.{digits}f}–{scale * iv.high:.{digits}f}{unit.strip()}"


def settle_text(passed: bool | None, iv: Interval, lo: float | None, hi: float | None) -> tuple[str, int | None]:
    """For an inconclusive check: its words and the samples that would settle it."""
    if passed is not None:
        return "", None
    n = samples_to_settle(iv, lo, hi)
    if n is None or n > SETTLE_MAX_FACTOR * iv.n:
        return f"; inconclusive on {iv.n} samples (the estimate is practically on the bar)", None
    return f"; inconclusive on {iv.n} samples, about {n} would settle it", n


def time_check(ratio: float | None, bar: float, against: str = "retraining") -> Check | None:
    """fast: time ÷ retraining time at most `bar` (an exact figure: no sampling noise)."""
    if ratio is None:
        return None
    return Check("fast", ratio <= bar, f"{ratio:.2f}× {against}'s time (bar ≤ {bar:g}×)", Interval.exact(ratio))


@dataclass
class Evidence:
    """Per-sample facts about one model that the gold-based checks resample: correct on Df, correct on the
    judged test images (retained classes for class forgetting), and called member by its entropy attacker."""

    forget_correct: np.ndarray
    test_correct: np.ndarray
    forget_member: np.ndarray


def gold_checks(u: Evidence, g: Evidence, forget_kind: str, time_ratio: float | None, *, test_label: str,
                tol: Tolerances = Tolerances(), seed: int = 0) -> list[Check]:
    """The four checks of an unlearned model against gold, from per-sample evidence, with paired intervals."""
    acc_f = tol.acc_forget_classes if forget_kind == "classes" else tol.acc_forget_samples
    out = []
    for name, a, b, bar, what in (("forgotten", u.forget_correct, g.forget_correct, acc_f, "Acc(Df)"),
                                  ("kept", u.test_correct, g.test_correct, tol.acc_test, test_label),
                                  ("private", u.forget_member, g.forget_member, tol.mia, "MIA on Df")):
        iv = paired_difference(a, b, seed)
        passed = within(iv, bar)
        more, n = settle_text(passed, iv, -bar, bar)
        out.append(Check(name, passed, f"{what} {100 * np.mean(a):.2f}% vs gold's {100 * np.mean(b):.2f}% "
                                       f"({pts(iv.value)}{ci_text(iv)}; bar ±{100 * bar:g}){more}", iv, n))
    fast = time_check(time_ratio, tol.time_vs_gold)
    return out + ([fast] if fast else [])


def checks(unlearned: Figures, gold: Figures, forget_kind: str, time_vs_gold: float | None,
           tol: Tolerances = Tolerances()) -> list[Check]:
    """Point-only checks from two models' summary figures (records made before intervals were kept)."""
    acc_f = tol.acc_forget_classes if forget_kind == "classes" else tol.acc_forget_samples
    out = []
    for name, a, b, bar, what in (("forgotten", unlearned.acc_forget, gold.acc_forget, acc_f, "Acc(Df)"),
                                  ("kept", unlearned.judged_test, gold.judged_test, tol.acc_test,
                                   unlearned.judged_test_label),
                                  ("private", unlearned.mia_forget, gold.mia_forget, tol.mia, "MIA on Df")):
        d = a - b
        out.append(Check(name, abs(d) <= bar + _EPS, f"{what} {100 * a:.2f}% vs gold's {100 * b:.2f}% "
                                                     f"({pts(d)}; bar ±{100 * bar:g})", Interval.exact(d)))
    fast = time_check(time_vs_gold, tol.time_vs_gold, "gold")
    return out + ([fast] if fast else [])


def misses(cs: list[Check]) -> str:
    """The names of the checks that failed, comma-separated, or "none"."""
    return ", ".join(c.name for c in cs if c.passed is False) or "none"


def inconclusive(cs: list[Check]) -> str:
    """The names of the checks their intervals leave open, comma-separated, or "none"."""
    return ", ".join(c.name for c in cs if c.passed is None) or "none"


def to_dict(cs: list[Check]) -> dict[str, dict[str, Any]]:
    """{name: {"passed", "detail", "status", "figure"?, "samples_to_settle"?}} for JSON."""
    return {c.name: c.to_dict() for c in cs}


def from_dict(d: dict[str, dict[str, Any]]) -> list[Check]:
    return [Check.from_dict(name, v) for name, v in d.items()]


def text(cs: list[Check]) -> str:
    """One line per check, marked PASS, MISS or OPEN (inconclusive)."""
    mark = {True: "PASS", False: "MISS", None: "OPEN"}
    return "\n".join(f"  {mark[c.passed]}  {c.name:<9} {c.detail}" for c in cs)
