"""Metrics of a model on Dr, Df and test: accuracies, attacks, divergence to gold, weight changes."""

from __future__ import annotations

import numpy as np
from torch import nn

from .evaluate import Outputs, per_class_accuracy
from .mia import EntropyAttack, loss_auc
from .result import ModelMetrics


def js_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """Mean Jensen–Shannon divergence (base 2, in [0, 1]) between rows of two probability arrays."""
    p = np.clip(p, 1e-12, 1.0)
    q = np.clip(q, 1e-12, 1.0)
    m = 0.5 * (p + q)
    kl = lambda a, b: (a * np.log2(a / b)).sum(axis=1)  # noqa: E731
    return float(np.mean(0.5 * kl(p, m) + 0.5 * kl(q, m))) if len(p) else float("nan")


def model_metrics(retain: Outputs, forget: Outputs, test: Outputs, *, num_classes: int,
                  forget_classes: tuple[int, ...] = (), gold_forget_probs: np.ndarray | None = None,
                  seconds: float = 0.0, seed: int = 0, attack: EntropyAttack | None = None) -> ModelMetrics:
    """One model's figures from its outputs on Dr, Df and test (accuracies and MIA as fractions in [0, 1]).
    `attack` is the model's own entropy attacker (fitted on its Dr and test outputs when not given)."""
    attack = attack or EntropyAttack.fit(retain.probs, test.probs, seed)
    m = ModelMetrics(
        acc_retain=retain.accuracy,
        acc_forget=forget.accuracy,
        acc_test=test.accuracy,
        mia_forget=attack.member_fraction(forget.probs),
        loss_auc=loss_auc(forget.losses, test.losses),
        js_to_gold=js_divergence(forget.probs, gold_forget_probs) if gold_forget_probs is not None else None,
        seconds=seconds,
        per_class_test=per_class_accuracy(test, num_classes),
    )
    if forget_classes:
        kept = ~np.isin(test.labels, forget_classes)
        m.acc_test_retained_classes = float((test.preds[kept] == test.labels[kept]).mean())
        m.acc_test_forgotten_classes = float((test.preds[~kept] == test.labels[~kept]).mean()) if (~kept).any() else None
    return m


def weights_changed_fraction(before: nn.Module, after: nn.Module) -> float:
    """Fraction of parameter entries that differ at all between two models of one architecture."""
    changed = total = 0
    after_params = dict(after.named_parameters())
    for n, p in before.named_parameters():
        q = after_params[n].detach().to(p.device)
        changed += int((p.detach() != q).sum())
        total += p.numel()
    return changed / total if total else 0.0


def per_layer_changed(before: nn.Module, after: nn.Module) -> dict[str, float]:
    """Fraction of entries changed, per parameter tensor."""
    after_params = dict(after.named_parameters())
    return {n: float((p.detach() != after_params[n].detach().to(p.device)).float().mean())
            for n, p in before.named_parameters()}



# Per-sample values kept in a run's result for the distribution charts, and forget examples shown.
DISTRIBUTION_SAMPLES = 500
FORGET_EXAMPLES = 24


def distributions(outs: dict[str, dict[str, Outputs]], seed: int = 0) -> dict[str, dict[str, dict[str, list]]]:
    """Per-sample loss and softmax entropy on Df and test for each model (a seeded sample of at most
    DISTRIBUTION_SAMPLES per set), so the results page can draw the attacks' view without reloading models."""
    from .mia import entropy

    rng = np.random.default_rng(seed)
    picks = {}
    out: dict[str, dict[str, dict[str, list]]] = {}
    for model, sets in outs.items():
        out[model] = {}
        for name in ("forget", "test"):
            o = sets[name]
            if name not in picks:
                n = len(o.losses)
                picks[name] = np.sort(rng.choice(n, min(n, DISTRIBUTION_SAMPLES), replace=False))
            idx = picks[name]
            out[model][name] = {"loss": np.round(o.losses[idx], 6).tolist(),
                                "entropy": np.round(entropy(o.probs[idx]), 6).tolist()}
    return out


def forget_examples(outs: dict[str, dict[str, Outputs]], forget_idx: np.ndarray) -> dict[str, list[int]]:
    """The first FORGET_EXAMPLES forget-set images (training-split indices), their labels and each model's prediction."""
    k = min(FORGET_EXAMPLES, len(forget_idx))
    first = next(iter(outs.values()))["forget"]
    return {"indices": [int(i) for i in forget_idx[:k]], "labels": first.labels[:k].astype(int).tolist(),
            **{m: sets["forget"].preds[:k].astype(int).tolist() for m, sets in outs.items()}}
