"""Gold: retrain from scratch on Dr with the original training recipe (the reference every method is judged by)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from torch import nn

from ..config import Config, param
from .base import Method, UnlearnTask


@dataclass(frozen=True)
class GoldConfig(Config):
    """Gold retraining: the original recipe, optionally with another seed."""

    seed: int | None = param(None, "initialisation and shuffling seed (empty: the original model's)", low=0)


def run(model: nn.Module, task: UnlearnTask, cfg: GoldConfig):
    from ..cards import fresh_model
    from ..train import train

    tcfg = task.train_config if cfg.seed is None else replace(task.train_config, seed=cfg.seed)
    fresh = fresh_model(task.card, tcfg.seed)
    hist = train(fresh, task.retain, tcfg, device=task.device, progress=task.progress, phase="gold retraining")
    return fresh.eval(), {"epochs": tcfg.epochs, "epoch_losses": hist["epoch_losses"]}


METHOD = Method(
    name="gold",
    title="Retrain (gold)",
    run=run,
    config=GoldConfig,
    summary="retrain from scratch on Dr with the original recipe (the reference)",
    citation="standard baseline",
    reference=True,
)
