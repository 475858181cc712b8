"""End-to-end operations shared by the CLI and the dashboard: train a checkpoint, evaluate one."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from . import config
from .checkpoint import load_checkpoint, save_checkpoint
from .data import Dataset, Normalisation, load_dataset
from .evaluate import outputs, per_class_accuracy
from .models import build_model
from .runtime import Cancelled, Progress, no_progress, pick_device
from .store import RunStore
from .train import TrainConfig, train


def dataset_of(card: dict[str, Any]) -> Dataset:
    """Load the dataset a model card names (its file, for a user's own data)."""
    return load_dataset(card["dataset"], path=card.get("data_path"))


def card_for(architecture: str, dataset: Dataset, data_path: str | None = None) -> dict[str, Any]:
    """A model card for a bare checkpoint (no card beside it), from its architecture and dataset."""
    n = dataset.normalisation()
    return {"architecture": architecture, "dataset": dataset.name, "data_path": data_path,
            "num_classes": dataset.num_classes, "classes": dataset.classes, "input_shape": list(dataset.input_shape),
            "normalisation": {"mean": list(n.mean), "std": list(n.std)}}


def norm_of(card: dict[str, Any]) -> Normalisation:
    return Normalisation(tuple(card["normalisation"]["mean"]), tuple(card["normalisation"]["std"]))


def fresh_model(card: dict[str, Any], seed: int) -> torch.nn.Module:
    """An untrained model of the card's architecture, initialised under `seed`."""
    torch.manual_seed(seed)
    return build_model(card["architecture"], card["input_shape"], card["num_classes"], **card.get("model_kwargs", {}))


def train_checkpoint(dataset: Dataset, architecture: str, cfg: TrainConfig, out: str | Path, *,
                     device: str = "auto", store: RunStore | None = None, progress: Progress = no_progress,
                     data_path: str | None = None) -> dict[str, Any]:
    """Train `architecture` on the whole training split, save safetensors + model card, record the run."""
    cfg = cfg.resolved(dataset.recipe)
    dev = pick_device(device)
    norm = dataset.normalisation()
    card: dict[str, Any] = {
        "architecture": architecture, "model_kwargs": {}, "dataset": dataset.name, "data_path": data_path,
        "num_classes": dataset.num_classes, "classes": dataset.classes, "input_shape": list(dataset.input_shape),
        "normalisation": {"mean": list(norm.mean), "std": list(norm.std)}, "recipe": config.to_dict(cfg),
        "seed": cfg.seed, "parent_run": None,
    }
    run_id = store.create("train", method="train", dataset=dataset.name, config=config.to_dict(cfg)) if store else None
    if store:
        store.start(run_id)
        progress = store_progress(store, run_id, progress)
    try:
        model = fresh_model(card, cfg.seed)
        t0 = time.perf_counter()
        train(model, dataset.tensors("train", norm=norm), cfg, device=dev, progress=progress)
        seconds = time.perf_counter() - t0
        model.cpu()
        card["accuracy"] = {
            "train": outputs(model, dataset.tensors("train", norm=norm)).accuracy,
            "test": outputs(model, dataset.tensors("test", norm=norm)).accuracy,
        }
        card["train_seconds"] = round(seconds, 3)
        card["parent_run"] = run_id
        card = save_checkpoint(model, card, out)
    except BaseException as e:
        if store:
            store.fail(run_id, f"{type(e).__name__}: {e}")
        raise
    if store:
        weights = (Path(out).parent / card["file"]).resolve()
        store.finish(run_id, metrics=card["accuracy"], timings={"train": seconds},
                     artifact_path=str(weights), artifact_sha256=card["sha256"])
    return card


def evaluate_checkpoint(path: str | Path, card: dict[str, Any] | None = None, *, device: str = "auto",
                        dataset: Dataset | None = None) -> dict[str, Any]:
    """Accuracy on train and test and per class (test) of a checkpoint, on the dataset its card names."""
    model, card = load_checkpoint(path, card)
    dataset = dataset or dataset_of(card)
    dev = pick_device(device)
    model.to(dev)
    norm = norm_of(card)
    tr = outputs(model, dataset.tensors("train", norm=norm), device=dev)
    te = outputs(model, dataset.tensors("test", norm=norm), device=dev)
    return {
        "checkpoint": str(path), "sha256": card["sha256"], "dataset": card["dataset"],
        "architecture": card["architecture"], "acc_train": tr.accuracy, "acc_test": te.accuracy,
        "per_class_test": dict(zip(dataset.classes, per_class_accuracy(te, dataset.num_classes))),
        "per_class_train": dict(zip(dataset.classes, per_class_accuracy(tr, dataset.num_classes))),
    }


def store_progress(store: RunStore, run_id: str, inner: Progress) -> Progress:
    """A progress callback that also writes phase and fraction to the run record (at most ~4 times a second)
    and raises `Cancelled` there once a cancel has been requested through the store."""
    last = [0.0]

    def report(phase: str, fraction: float, message: str = "") -> None:
        now = time.monotonic()
        if now - last[0] > 0.25 or fraction >= 1.0:
            last[0] = now
            if store.progress(run_id, phase, fraction, message):
                raise Cancelled(f"run {run_id} was cancelled")
        inner(phase, fraction, message)

    return report


