"""How many weights each value of a method's swept option would touch (DeepClean's γ-curve, the paper's
Fig. 3), from one pass over the data: what the command line prints and the Unlearn page draws."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .forget import ForgetSpec
from .methods import MethodError, Sweep, get_method
from .prepare import prepare
from .progress import Progress, no_progress

# Points of the curve drawn beside the Unlearn page's slider, spread over the slider's range.
PAGE_POINTS = 40


def page_values(sweep: Sweep, points: int = PAGE_POINTS) -> list[float]:
    """Values spanning exactly the slider's range (log-spaced where the option is), with the defaults in it."""
    grid = np.geomspace(sweep.low, sweep.high, points) if sweep.log_scale else np.linspace(sweep.low, sweep.high, points)
    extra = [v for v in (*sweep.values, *sweep.grid) if sweep.low <= v <= sweep.high]
    return sorted({round(float(v), 4) for v in (*grid, *extra)})


def sweep_curve(checkpoint: str | Path, spec: ForgetSpec, method: str, config: Any = None,
                values: Sequence[float] | None = None, *, card: dict | None = None, device: str = "auto",
                progress: Progress = no_progress) -> dict[str, Any]:
    """`{"forget", "option", "rows"}`: for each value (default: the method's grid), the weights it selects in
    total and per parameter tensor. Refused for a method without a swept option or a curve."""
    m = get_method(method)
    if m.sweep is None or m.sweep.curve is None:
        raise MethodError(f"{method} has no curve of weights against an option")
    cfg = config if config is not None else m.config()
    prep = prepare(checkpoint, spec, card=card, device=device, progress=progress)
    rows = m.sweep.curve(prep.model, prep.task, cfg, list(values) if values is not None else list(m.sweep.grid))
    return {"forget": prep.forget_info().to_dict(), "option": m.sweep.option, "rows": rows}
