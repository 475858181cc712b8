"""Progress reporting and cancellation: the callback every long step calls (no heavy imports here)."""

from __future__ import annotations

from typing import Callable

# progress(phase, fraction of this phase done in [0, 1], message); it may raise Cancelled.
Progress = Callable[[str, float, str], None]


class Cancelled(RuntimeError):
    """Raised from a progress callback to stop a job cleanly."""


def no_progress(phase: str, fraction: float, message: str = "") -> None:
    """The default progress callback: does nothing."""
