"""The contract every unlearning method follows: the task it receives, and its registry entry with its traits."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch
from torch import nn
from torch.utils.data import TensorDataset

from ..data import Recipe
from ..fisher import fisher_diagonal, output_norm_sensitivity
from ..runtime import Progress, no_progress
from ..train import TrainConfig

FORGET_KINDS = ("classes", "random", "indices")


class MethodError(ValueError):
    """A method that cannot serve this forget set or model; said before it starts."""


@dataclass
class ImportanceCache:
    """Fisher diagonals and output-norm sensitivities of the *original* model, computed once per task.

    Every method that needs one (DeepClean, zero weights, SSD, LFSSD, Fisher forgetting) shares it, so a
    comparison pays for each diagonal once.
    """

    values: dict[tuple, dict[str, torch.Tensor]] = field(default_factory=dict)
    seconds: dict[tuple, float] = field(default_factory=dict)
    accessed: list[tuple] = field(default_factory=list)

    def reused_seconds(self, before: set[tuple]) -> float:
        """Seconds of the diagonals read since `accessed` was cleared that were already in the cache (`before`)."""
        return sum(self.seconds[k] for k in set(self.accessed) if k in before)

    def get(self, kind: str, model: nn.Module, data: TensorDataset, *, which: str, batch_size: int,
            max_samples: int | None, seed: int, device: torch.device, progress: Progress, phase: str,
            compute: Callable[..., dict[str, torch.Tensor]] | None = None):
        """`kind` names the importance ("fisher" and "sensitivity" are the exact per-sample diagonals of
        `core.fisher`; any other kind needs `compute`, called as `fisher_diagonal` is); `which` names the
        data ("forget", "retain", "train")."""
        key = (kind, which, batch_size, max_samples, seed)
        self.accessed.append(key)
        if key not in self.values:
            fn = compute or {"fisher": fisher_diagonal, "sensitivity": output_norm_sensitivity}[kind]
            t0 = time.perf_counter()
            self.values[key] = fn(model, data, batch_size=batch_size, max_samples=max_samples, seed=seed,
                                  device=device, progress=progress, phase=phase)
            self.seconds[key] = time.perf_counter() - t0
        return self.values[key]


@dataclass
class UnlearnTask:
    """The data and context a method works on: Df and Dr as normalised tensors, and the original recipe."""

    forget: TensorDataset
    retain: TensorDataset
    num_classes: int
    forget_kind: str
    forget_classes: tuple[int, ...]
    recipe: Recipe
    train_config: TrainConfig
    card: dict[str, Any]
    device: torch.device
    progress: Progress = no_progress
    importance: ImportanceCache = field(default_factory=ImportanceCache)
    seed: int = 0
    # Judges a candidate model gold-free on the half of the reference set a method may tune on (automatic
    # γ): `auditor(model) -> core.audit.Audit`, point estimates. None where the task has no reference set.
    auditor: Callable[[nn.Module], Any] | None = None


# curve(original model, task, config, values) -> one row per value: {option: value, "selected", "total",
# "fraction", "per_layer"} — how many weights each value of the swept option would touch.
Curve = Callable[[nn.Module, UnlearnTask, Any, Sequence[float]], list[dict[str, Any]]]


@dataclass(frozen=True)
class Sweep:
    """The one option a method is tuned by: swept by `python -m core sweep`, drawn as the Unlearn page's
    slider (with its curve beside it, when the method can compute one cheaply), plotted against on Results."""

    option: str  # the config field swept
    label: str  # what a person calls it, e.g. "threshold γ"
    low: float  # the slider's and the curve's range
    high: float
    values: tuple[float, ...]  # a sweep's default values
    default: Callable[[str], float]  # the value used when the option is left empty, per forget kind
    curve: Curve | None = None
    grid: tuple[float, ...] = ()  # the curve's values (the command line's default)
    log_scale: bool = True


@dataclass(frozen=True)
class Method:
    """A registered unlearning method: `run(model, task, config) -> (model, info)` and the traits that the
    command line, the sweep, the pages and the reports read instead of lists of names."""

    name: str
    run: Callable[[nn.Module, UnlearnTask, Any], tuple[nn.Module, dict]]
    config: type
    summary: str
    title: str = ""  # the name people read ("DeepClean", "Fine-tune"); `name` is the key
    citation: str = ""
    needs_labels: bool = True
    needs_retain: str = "yes"
    forget_kinds: tuple[str, ...] = FORGET_KINDS
    importance: tuple[str, ...] = ()  # shared importance passes it reads ("fisher", "sensitivity")
    sweep: Sweep | None = None
    reference: bool = False  # the yardstick (retraining): its model is the gold model, not a result to judge

    @property
    def display_name(self) -> str:
        """The name people read on pages and charts (the key when no title is given, as for a plugin)."""
        return self.title or self.name

    def check(self, task_kind: str) -> None:
        """Refuse a forget kind this method cannot serve, before anything runs."""
        if task_kind not in self.forget_kinds:
            raise MethodError(
                f"{self.name} cannot forget {task_kind!r} sets: it serves only {', '.join(self.forget_kinds)}. "
                f"Choose a class forget set, or another method."
            )

    def swept_value(self, config: Any, forget_kind: str, info: dict[str, Any] | None = None) -> float | None:
        """The value of the swept option a run used: as the method reports it in `info` (a value it chose
        itself, as automatic γ does), else the config's with its default filled in; None if it sweeps nothing."""
        if self.sweep is None:
            return None
        if info and isinstance(info.get(self.sweep.option), (int, float)):
            return float(info[self.sweep.option])
        value = getattr(config, self.sweep.option)
        return float(value if value is not None else self.sweep.default(forget_kind))
