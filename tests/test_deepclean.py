import math

import torch
from torch.utils.data import TensorDataset

from core.data import Recipe
from core.methods.base import UnlearnTask
from core.methods.training import adam_cosine
from core.methods.deepclean import run
from core.methods.fisher_reset import DeepCleanConfig, fisher_ratio, gamma_curve, importances, selection
from core.models import build_model
from core.train import TrainConfig


def test_ratio_guards_zero_denominators_explicitly():
    i_f = torch.tensor([2.0, 0.0, 1.0, 0.0])
    i_r = torch.tensor([1.0, 1.0, 0.0, 0.0])
    assert fisher_ratio(i_f, i_r).tolist() == [2.0, 0.0, math.inf, 0.0]


def test_selection_and_gamma_curve_count_by_hand():
    i_f = {"a": torch.tensor([3.0, 1.0, 0.5]), "b": torch.tensor([[4.0, 0.0]])}
    i_r = {"a": torch.tensor([1.0, 1.0, 1.0]), "b": torch.tensor([[1.0, 0.0]])}
    masks = selection(i_f, i_r, 2.0)
    assert masks["a"].tolist() == [True, False, False] and masks["b"].tolist() == [[True, False]]
    rows = gamma_curve(i_f, i_r, [0.1, 0.9, 2.0, 3.5])
    assert [r["selected"] for r in rows] == [4, 3, 2, 1] and rows[0]["total"] == 5
    assert rows[2]["per_layer"] == {"a": 1, "b": 1}


def _task(digits, classes=(0,)):
    import numpy as np

    y = digits.y_train.numpy()
    f_idx, r_idx = np.flatnonzero(np.isin(y, classes)), np.flatnonzero(~np.isin(y, classes))
    return UnlearnTask(forget=digits.tensors("train", f_idx), retain=digits.tensors("train", r_idx),
                       num_classes=10, forget_kind="classes", forget_classes=tuple(classes),
                       recipe=Recipe(2, (1,), 0.1, 1), train_config=TrainConfig().resolved(digits.recipe),
                       card={}, device=torch.device("cpu"))


def test_only_selected_weights_change_bit_for_bit(digits):
    from core.checkpoint import load_checkpoint
    from core.paths import CHECKPOINT_DIR

    model, _ = load_checkpoint(CHECKPOINT_DIR / "digits_cnn_small.safetensors")
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    task = _task(digits)
    out, info = run(model, task, DeepCleanConfig(gamma=2.0, epochs=1))
    i_f, i_r = importances(model, task, DeepCleanConfig())  # cached: the original model's diagonals
    masks = selection(i_f, i_r, 2.0)
    changed_outside = 0
    for n, p in out.named_parameters():
        outside = ~masks[n]
        changed_outside += int((p.detach()[outside] != before[n][outside]).sum())
    assert changed_outside == 0
    assert 0 < info["weights_reset"] < info["weights_total"]
    assert info["weights_reset"] == sum(int(m.sum()) for m in masks.values())
    assert sum(c["selected"] for c in info["per_layer"].values()) == info["weights_reset"]


def test_masked_adam_leaves_unmasked_entries_untouched():
    torch.manual_seed(0)
    model = build_model("cnn_small", (1, 8, 8), 3)
    data = TensorDataset(torch.randn(32, 1, 8, 8), torch.arange(32) % 3)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    masks = {n: torch.rand_like(p) < 0.1 for n, p in model.named_parameters()}
    adam_cosine(model, data, epochs=2, lr=1e-2, batch_size=8, seed=0, device=torch.device("cpu"), masks=masks)
    for n, p in model.named_parameters():
        assert torch.equal(p.detach()[~masks[n]], before[n][~masks[n]])
        assert not torch.equal(p.detach()[masks[n]], before[n][masks[n]])


def test_masked_adam_skips_gradients_of_tensors_with_nothing_selected():
    torch.manual_seed(0)
    model = build_model("cnn_small", (1, 8, 8), 3)
    data = TensorDataset(torch.randn(16, 1, 8, 8), torch.arange(16) % 3)
    masks = {n: torch.zeros_like(p, dtype=torch.bool) for n, p in model.named_parameters()}
    masks["7.weight"][0, :5] = True  # only the first hidden layer trains
    seen = []

    def progress(phase, fraction, message):
        seen.append({n: (p.requires_grad, p.grad is not None) for n, p in model.named_parameters()})

    adam_cosine(model, data, epochs=1, lr=1e-2, batch_size=8, seed=0, device=torch.device("cpu"), masks=masks,
                progress=progress)
    assert seen and all(s["7.weight"] == (True, True) for s in seen)
    assert all(s[n] == (False, False) for s in seen for n in s if n != "7.weight")
    assert all(p.requires_grad for p in model.parameters())  # restored afterwards
