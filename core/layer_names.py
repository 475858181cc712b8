"""Readable names for a model's parameters: "conv 1 weights", "dense 2 bias", "output layer weights", instead
of state-dict keys like `9.bias`, so the per-layer charts speak to people who never read the model's code."""

from __future__ import annotations

from torch import nn

# What a layer is called, by its type (the first match in this order, so subclasses come first).
KINDS: tuple[tuple[type, str], ...] = (
    (nn.Conv1d, "conv"), (nn.Conv2d, "conv"), (nn.Conv3d, "conv"), (nn.MultiheadAttention, "attention"),
    (nn.Linear, "dense"), (nn.BatchNorm1d, "batch norm"), (nn.BatchNorm2d, "batch norm"),
    (nn.LayerNorm, "layer norm"), (nn.GroupNorm, "group norm"), (nn.Embedding, "embedding"),
)
PARTS = {"weight": "weights", "bias": "bias", "in_proj_weight": "input weights", "in_proj_bias": "input bias"}


def kind_of(module: nn.Module) -> str | None:
    """The readable kind of a layer with parameters of its own (None for containers and unknown layers)."""
    return next((name for cls, name in KINDS if isinstance(module, cls)), None)


def readable_names(model: nn.Module) -> dict[str, str]:
    """Parameter key → readable name: layers of a kind numbered in order ("conv 2 weights"), the last dense
    layer called the output layer; parameters of other modules keep their key with dots as spaces."""
    modules = dict(model.named_modules())
    owners: dict[str, str] = {}  # parameter key → the name of the module that holds it directly
    for mname, module in modules.items():
        for pname, _ in module.named_parameters(recurse=False):
            owners[f"{mname}.{pname}" if mname else pname] = mname
    dense = [m for m, mod in modules.items() if kind_of(mod) == "dense"]
    numbers: dict[str, str] = {}
    counts: dict[str, int] = {}
    for mname, module in modules.items():
        kind = kind_of(module)
        if kind is None or not any(True for _ in module.parameters(recurse=False)):
            continue
        if kind == "dense" and dense and mname == dense[-1]:
            numbers[mname] = "output layer"
            continue
        counts[kind] = counts.get(kind, 0) + 1
        numbers[mname] = f"{kind} {counts[kind]}"
    out = {}
    for key, mname in owners.items():
        part = key[len(mname) + 1:] if mname else key
        if mname in numbers:
            out[key] = f"{numbers[mname]} {PARTS.get(part, part.replace('_', ' '))}"
        else:
            out[key] = key.replace(".", " ").replace("_", " ")
    return out
