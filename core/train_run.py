"""Train a checkpoint on a dataset's whole training split, save it with its model card, and record the run."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from . import config
from .cards import fresh_model
from .checkpoint import save_checkpoint
from .data import Dataset
from .evaluate import outputs
from .progress import Progress, no_progress
from .runtime import pick_device
from .store import RunStore, track
from .train import TrainConfig, train


def train_checkpoint(dataset: Dataset, architecture: str, cfg: TrainConfig, out: str | Path, *,
                     device: str = "auto", store: RunStore | None = None, progress: Progress = no_progress,
                     data_path: str | None = None) -> dict[str, Any]:
    """Train `architecture` on the whole training split, save safetensors + model card, record the run;
    returns the card."""
    cfg = cfg.resolved(dataset.recipe)
    dev = pick_device(device)
    norm = dataset.normalisation()
    card: dict[str, Any] = {
        "architecture": architecture, "model_kwargs": {}, "dataset": dataset.name, "data_path": data_path,
        "num_classes": dataset.num_classes, "classes": dataset.classes, "input_shape": list(dataset.input_shape),
        "normalisation": {"mean": list(norm.mean), "std": list(norm.std)}, "recipe": config.to_dict(cfg),
        "seed": cfg.seed, "parent_run": None,
    }
    with track(store, "train", method="train", dataset=dataset.name, config=config.to_dict(cfg)) as run:
        model = fresh_model(card, cfg.seed)
        t0 = time.perf_counter()
        train(model, dataset.tensors("train", norm=norm), cfg, device=dev, progress=run.progress(progress))
        seconds = time.perf_counter() - t0
        model.cpu()
        card["accuracy"] = {
            "train": outputs(model, dataset.tensors("train", norm=norm)).accuracy,
            "test": outputs(model, dataset.tensors("test", norm=norm)).accuracy,
        }
        card["train_seconds"] = round(seconds, 3)
        card["parent_run"] = run.id
        card = save_checkpoint(model, card, out)
        weights = (Path(out).parent / card["file"]).resolve()
        run.finish(metrics=card["accuracy"], timings={"train": seconds}, artifact_path=str(weights),
                   artifact_sha256=card["sha256"])
    return card
