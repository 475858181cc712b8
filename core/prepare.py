"""What every unlearning run works on: a checkpoint, its dataset and a resolved forget set, made ready once."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from . import config as cfgmod
from .audit import SEARCH_RETAIN_SAMPLES, Auditor, Reference, choose_reference
from .cards import dataset_of, norm_of
from .checkpoint import load_checkpoint
from .data import Dataset
from .evaluate import Outputs, outputs
from .forget import ForgetSpec, resolve
from .methods import UnlearnTask
from .progress import Progress, no_progress
from .result import ForgetInfo
from .runtime import pick_device, subsample
from .train import TrainConfig


@dataclass
class Prepared:
    """A checkpoint, its dataset and a resolved forget set, ready for any method (shared by comparisons)."""

    checkpoint: Path
    model: nn.Module
    card: dict[str, Any]
    dataset: Dataset
    spec: ForgetSpec
    forget_idx: np.ndarray
    retain_idx: np.ndarray
    task: UnlearnTask
    test: torch.utils.data.TensorDataset
    reference: Reference
    search_half: Reference  # what automatic γ may tune on (the task's auditor reads it)
    report_half: Reference  # what a run that tuned on the other half is audited on
    original_outputs: dict[str, Outputs] | None = None
    _retrain_seconds: float | None = None

    def sets(self) -> dict[str, torch.utils.data.TensorDataset]:
        return {"retain": self.task.retain, "forget": self.task.forget, "test": self.test}

    def forget_info(self) -> ForgetInfo:
        return ForgetInfo(self.spec, int(len(self.forget_idx)), int(len(self.retain_idx)))

    def evaluate(self, model: nn.Module) -> dict[str, Outputs]:
        """A model's outputs on Dr, Df and test."""
        return {name: outputs(model, data, device=self.task.device) for name, data in self.sets().items()}

    def original(self) -> dict[str, Outputs]:
        """The original model's outputs on Dr, Df and test (computed once)."""
        if self.original_outputs is None:
            self.original_outputs = self.evaluate(self.model)
        return self.original_outputs

    def retrain_seconds(self) -> float:
        """Retraining's cost, estimated once per task, here and now (see core/retrain_cost.py)."""
        if self._retrain_seconds is None:
            from .retrain_cost import estimate_retrain_seconds

            self._retrain_seconds = estimate_retrain_seconds(self.task)
        return self._retrain_seconds


def prepare(checkpoint: str | Path, spec: ForgetSpec, *, card: dict | None = None, device: str = "auto",
            dataset: Dataset | None = None, progress: Progress = no_progress) -> Prepared:
    """Load the checkpoint (read-only) and its dataset, resolve Df and Dr, and build the method task."""
    model, card = load_checkpoint(checkpoint, card)
    dataset = dataset or dataset_of(card)
    norm = norm_of(card)
    shape = list(norm.output_shape(tuple(dataset.input_shape)))
    if shape != list(card["input_shape"]) or dataset.num_classes != card["num_classes"]:
        raise ValueError(f"the checkpoint expects {card['input_shape']} inputs and {card['num_classes']} classes, "
                         f"but {dataset.name} gives {shape} ({norm.describe(tuple(dataset.input_shape))}) and "
                         f"{dataset.num_classes}")
    forget_idx, retain_idx = resolve(spec, dataset.y_train, dataset.num_classes)
    dev = pick_device(device)
    recipe_cfg = cfgmod.parse(TrainConfig, card.get("recipe", {}), owner="the checkpoint's training recipe")
    task = UnlearnTask(
        forget=dataset.tensors("train", forget_idx, norm), retain=dataset.tensors("train", retain_idx, norm),
        num_classes=dataset.num_classes, forget_kind=spec.kind,
        forget_classes=spec.classes if spec.kind == "classes" else (), recipe=dataset.recipe,
        train_config=recipe_cfg.resolved(dataset.recipe), card=card, device=dev, progress=progress,
    )
    model = model.to(dev).eval()
    test = dataset.tensors("test", norm=norm)
    y_test = dataset.y_test.numpy()
    reference = choose_reference(spec.kind, task.forget_classes, task.forget.tensors[1].numpy(), y_test, spec.seed)
    search_half, report_half = reference.halves(y_test, spec.seed)
    task.auditor = Auditor(task.forget, subsample(task.retain, SEARCH_RETAIN_SAMPLES, spec.seed), test, search_half,
                           model, spec.kind, device=dev, seed=spec.seed)
    return Prepared(Path(checkpoint), model, card, dataset, spec, forget_idx, retain_idx, task, test, reference,
                    search_half, report_half)


def cache_key(prep: Prepared, method: str, method_config: dict) -> str:
    """Identity of a result: (checkpoint sha256, dataset, forget spec, method, config)."""
    ident = {"checkpoint": prep.card["sha256"], "dataset": prep.dataset.name, "forget": prep.spec.to_dict(),
             "method": method, "config": method_config}
    return hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()


def child_card(prep: Prepared, run_id: str | None, method: str, config: dict) -> dict:
    """The model card of a model derived from the prepared checkpoint by `method`."""
    card = {k: v for k, v in prep.card.items() if k not in ("sha256", "file", "created", "accuracy")}
    return {**card, "parent_run": run_id, "parent_sha256": prep.card["sha256"], "method": method,
            "method_config": config, "forget": prep.spec.to_dict()}
