"""Layer similarity: linear CKA (Kornblith et al., 2019, eq. 5) between two models' activations layer by layer on
the same images. 1 means the layer represents the images the same way (up to rotation and scale); the
unlearned model against gold shows which layers moved towards the retrained model, against the original which
moved at all."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn

from .layer_names import kind_of, readable_names


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA of two activation matrices over the same n samples (n×p and n×q):
    ‖YᵀX‖²_F / (‖XᵀX‖_F ‖YᵀY‖_F) on column-centred X and Y."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    x = x - x.mean(0)
    y = y - y.mean(0)
    # in Gram form when features outnumber samples (the same value, cheaper)
    if x.shape[1] + y.shape[1] > 2 * x.shape[0]:
        k, l_ = x @ x.T, y @ y.T
        num, den = (k * l_).sum(), np.sqrt((k * k).sum() * (l_ * l_).sum())
    else:
        num = np.linalg.norm(y.T @ x) ** 2
        den = np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y)
    return float(num / den) if den > 0 else float("nan")


def layer_modules(model: nn.Module) -> dict[str, str]:
    """Module name → readable name, for every layer with weights of its own (the layers CKA compares)."""
    names = readable_names(model)
    out = {}
    for mname, module in model.named_modules():
        if kind_of(module) is not None and any(True for _ in module.parameters(recurse=False)):
            label = names.get(f"{mname}.weight") or names.get(f"{mname}.in_proj_weight") or mname
            out[mname] = label.removesuffix(" weights").removesuffix(" input weights")
    return out


@torch.no_grad()
def activations(model: nn.Module, x: torch.Tensor, layers: list[str], batch_size: int = 256) -> dict[str, np.ndarray]:
    """Each named layer's output for every image, flattened per image (the first output of a tuple)."""
    mods = dict(model.named_modules())
    out: dict[str, list[torch.Tensor]] = {n: [] for n in layers}

    def hook(name):
        def save(_m, _i, o):
            o = o[0] if isinstance(o, tuple) else o
            out[name].append(o.detach().flatten(1).double().cpu() if o.dim() > 1 else o.detach()[None].double())
        return save

    handles = [mods[n].register_forward_hook(hook(n)) for n in layers]
    try:
        model.eval()
        for k in range(0, len(x), batch_size):
            model(x[k:k + batch_size])
    finally:
        for h in handles:
            h.remove()
    return {n: torch.cat(v).numpy() for n, v in out.items()}


def cka_frame(models: dict[str, nn.Module], x: torch.Tensor) -> pd.DataFrame:
    """CKA per layer of the unlearned model against the original and (when there is one) gold: one row per layer
    and pair, in layer order (layer, against, cka)."""
    names = layer_modules(models["unlearned"])
    layers = list(names)
    acts = {role: activations(m, x, layers) for role, m in models.items()
            if set(layers) <= set(dict(m.named_modules()))}
    rows = []
    for against in ("original", "gold"):
        if against not in acts:
            continue
        for n in layers:
            rows.append({"layer": names[n], "against": against, "cka": linear_cka(acts["unlearned"][n], acts[against][n])})
    return pd.DataFrame(rows, columns=["layer", "against", "cka"])
