"""One name and one colour per model on every chart: the original, the retrained reference (gold, a neutral
grey: it is the target, not an alarm) and each method (the same colour on every page)."""

from __future__ import annotations

from .methods import METHODS

ORIGINAL = "original"
GOLD = "retrained (gold)"
ORIGINAL_COLOUR = "#4c78a8"
GOLD_COLOUR = "#8c8c8c"
# Methods in registry order take these in turn (Vega's tableau10 without its blue and grey, then more).
METHOD_COLOURS = ("#f58518", "#54a24b", "#e45756", "#72b7b2", "#eeca3b", "#b279a2", "#ff9da6", "#9d755d",
                  "#1f77b4", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")


def model_label(role: str, method: str) -> str:
    """The one name of a model on tables and charts: "original", "retrained (gold)", or the method's name."""
    if role == "original":
        return ORIGINAL
    if role == "gold":
        return GOLD
    m = METHODS.get(method)
    return m.display_name if m else method


def colour(label: str) -> str:
    """The fixed colour of a model's label (a method's by its place in the registry)."""
    if label == ORIGINAL:
        return ORIGINAL_COLOUR
    if label == GOLD:
        return GOLD_COLOUR
    names = [m.display_name for m in METHODS.values()]
    k = names.index(label) if label in names else sum(map(ord, label))
    return METHOD_COLOURS[k % len(METHOD_COLOURS)]


def scale(labels: list[str]) -> tuple[list[str], list[str]]:
    """(domain, range) of a colour scale for these labels, in their order."""
    return list(labels), [colour(x) for x in labels]
