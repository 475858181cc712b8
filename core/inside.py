"""Looking inside a run's models: the original, unlearned and gold models of a result loaded from the store, and
the data they are looked at on (the forget set and a test sample, normalised as their card says). The views
(`core/embedding.py`, `core/cka.py`, `core/attack_view.py`) take what this returns."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import TensorDataset

from .cards import dataset_of, norm_of
from .checkpoint import CheckpointError, load_checkpoint
from .forget import resolve
from .result import UnlearnResult
from .store import RunStore, StoreError

# Samples each view looks at: all of Df up to this many, and as many test images (seeded).
VIEW_SAMPLES = 400


@dataclass
class RunModels:
    """A result's models by role ("original", "unlearned", "gold" where it has one) and the data to look at:
    Df and a test sample, with their labels, and the dataset's class names."""

    models: dict[str, nn.Module]
    forget: TensorDataset
    test: TensorDataset
    retain: TensorDataset
    classes: list[str]
    forget_indices: np.ndarray
    missing: dict[str, str]  # role → why its model could not be loaded


def load_run_models(store: RunStore, result: UnlearnResult, *, samples: int = VIEW_SAMPLES,
                    seed: int = 0) -> RunModels:
    """Load the models of `result` (raises CheckpointError when the input checkpoint itself is gone)."""
    original, card = load_checkpoint(result.checkpoint["path"])
    models, missing = {"original": original}, {}
    paths = {"unlearned": (result.artifact or {}).get("path")}
    if result.gold_ref is not None and result.gold_ref.run_id:
        try:
            paths["gold"] = store.get(result.gold_ref.run_id)["artifact_path"]
        except StoreError:
            missing["gold"] = "its run was deleted"
    for role, path in paths.items():
        if not path or not Path(path).is_file():
            missing.setdefault(role, "its checkpoint file is gone (deleted, or the run kept none)")
            continue
        try:
            models[role], _ = load_checkpoint(path)
        except CheckpointError as e:
            missing[role] = str(e)
    for m in models.values():
        m.eval()
    ds = dataset_of(card)
    norm = norm_of(card)
    f_idx, r_idx = resolve(result.forget.spec, ds.y_train.numpy(), ds.num_classes)
    rng = np.random.default_rng(seed)
    f_take = np.sort(rng.permutation(f_idx)[:samples])
    t_take = np.sort(rng.permutation(len(ds.y_test))[:samples])
    r_take = np.sort(rng.permutation(r_idx)[:samples])
    return RunModels(models, ds.tensors("train", f_take, norm=norm), ds.tensors("test", t_take, norm=norm),
                     ds.tensors("train", r_take, norm=norm), ds.classes, f_take, missing)


def last_linear(model: nn.Module) -> nn.Linear:
    """The classifier's output layer: the last nn.Linear in the model's module order."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError("the model has no linear output layer, so it has no penultimate features to show")
    return linears[-1]


@torch.no_grad()
def penultimate(model: nn.Module, x: torch.Tensor, batch_size: int = 256) -> np.ndarray:
    """The input of the output layer for each image (the features the classes are read from), N×D."""
    layer, out = last_linear(model), []
    handle = layer.register_forward_pre_hook(lambda _m, args: out.append(args[0].detach().flatten(1).cpu()))
    try:
        model.eval()
        for k in range(0, len(x), batch_size):
            model(x[k:k + batch_size])
    finally:
        handle.remove()
    return torch.cat(out).double().numpy()
