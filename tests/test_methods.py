"""Every registered method moves the shipped digits model the expected way, within stated bounds."""

import copy

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from core.config import options
from core.forget import ForgetSpec
from core.methods import METHODS, MethodError, get_method
from core.gold import gold_model
from core.methods.salun import top_fraction_masks
from core.methods.training import last_linear, random_other_labels
from core.prepare import prepare
from core.unlearn import run_unlearn

# Reference defaults assume CIFAR-sized data: on digits' 1,347 training images they take only a handful of
# steps (bad teacher: 2 batches of 256; SCRUB: one Df batch of 512 per max pass) or too small a rate to move
# (SCRUB's 5e-4), and SSD's α = 10 selects 39 weights (LFSSD's: 2) where α = 5, the reference's value for ViT,
# selects 920 (1,068). These say how to make them act on digits; every other method runs with its defaults.
SMALL_DATA = {
    "ssd": dict(alpha=5.0),
    "lfssd": dict(alpha=5.0),
    "bad_teacher": dict(epochs=3, batch_size=32, lr=1e-3),
    "scrub": dict(lr=5e-3, batch_size=64, forget_batch_size=16),
    "neggrad_plus": dict(epochs=4),
}
# Methods that do not unlearn actively (they only train on Dr): on a class, the Df loss rises, but a few
# epochs do not take Acc(Df) down on digits (catastrophic forgetting needs far longer).
PASSIVE = {"finetune", "l1_sparse"}
# Largest allowed drop of retained-class test accuracy, in accuracy points, below the original's.
RETAINED_DROP = {"unsir": 0.35}
DEFAULT_DROP = 0.05


@pytest.fixture(scope="module")
def class0(shipped):
    spec = ForgetSpec.of_classes([0])
    prep = prepare(shipped, spec, device="cpu")
    return spec, prep, gold_model(prep, None)


@pytest.fixture(scope="module")
def random10(shipped):
    spec = ForgetSpec.random(fraction=0.1, seed=0)
    prep = prepare(shipped, spec, device="cpu")
    return spec, prep, gold_model(prep, None)


def run(fixture, name, small_data=True):
    spec, prep, gold = fixture
    cfg = get_method(name).config(**(SMALL_DATA.get(name, {}) if small_data else {}))
    return run_unlearn(prep.checkpoint, spec, name, cfg, prepared=prep, gold=gold)


@pytest.mark.parametrize("name", [n for n, m in METHODS.items() if "classes" in m.forget_kinds])
def test_class_forgetting_moves_the_expected_way(class0, name):
    r = run(class0, name)
    o, u = r.original, r.unlearned
    assert o.acc_forget == 1.0
    if name in PASSIVE:
        assert r.weights_changed_fraction > 0.1
    else:
        assert u.acc_forget <= 0.3, f"{name} kept {u.acc_forget:.0%} of the forgotten class"
    drop = o.judged_test - u.judged_test
    assert drop <= RETAINED_DROP.get(name, DEFAULT_DROP), f"{name} lost {drop:.1%} on the retained classes"


def test_passive_methods_raise_the_forget_loss(class0):
    spec, prep, gold = class0
    from core.evaluate import outputs

    before = outputs(prep.model, prep.task.forget, device="cpu").losses.mean()
    for name in PASSIVE:
        cfg = get_method(name).config(epochs=4)
        model, _ = get_method(name).run(copy.deepcopy(prep.model), prep.task, cfg)
        after = outputs(model, prep.task.forget, device="cpu").losses.mean()
        assert after > 2 * before, name


@pytest.mark.parametrize("name", [n for n, m in METHODS.items() if "random" in m.forget_kinds])
def test_random_forgetting_keeps_the_model_useful(random10, name):
    r = run(random10, name, small_data=False)
    o, u = r.original, r.unlearned
    assert o.acc_test - u.acc_test <= 0.05, f"{name}: test accuracy {o.acc_test:.3f} → {u.acc_test:.3f}"
    assert all(np.isfinite(v) for k, v in u.to_dict().items() if k != "per_class_test")


def test_unsir_refuses_random_samples_before_it_starts(shipped):
    with pytest.raises(MethodError, match="serves only classes"):
        run_unlearn(shipped, ForgetSpec.random(fraction=0.1), "unsir")


def test_a_diverging_method_fails_with_advice(shipped, class0):
    spec, prep, gold = class0
    with pytest.raises(MethodError, match="diverged.*Lower its learning rate"):
        run_unlearn(shipped, spec, "scrub", get_method("scrub").config(lr=10.0), prepared=prep, gold=gold)


def test_random_other_labels_never_keep_the_true_label(class0):
    _, prep, _ = class0
    relabelled = random_other_labels(prep.task.retain, 10, seed=3)
    assert not torch.any(relabelled.tensors[1] == prep.task.retain.tensors[1])
    assert len(torch.unique(relabelled.tensors[1])) == 10


def test_saliency_mask_takes_exactly_the_top_fraction_even_among_ties():
    scores = {"a": torch.tensor([0.0, 0.0, 3.0, 0.0]), "b": torch.tensor([[1.0, 0.0], [0.0, 2.0]])}
    masks = top_fraction_masks(scores, 0.5)
    assert sum(int(m.sum()) for m in masks.values()) == 4
    assert masks["a"][2] and masks["b"][0, 0] and masks["b"][1, 1]


def test_fisher_forgetting_zeroes_the_forgotten_head_row_in_mean(class0):
    spec, prep, gold = class0
    model, _ = get_method("fisher_forgetting").run(copy.deepcopy(prep.model), prep.task,
                                                   get_method("fisher_forgetting").config(fisher="empirical"))
    row = last_linear(model).weight[0]
    assert row.abs().max() < 0.1 and last_linear(prep.model).weight[0].abs().max() > 0.1


def tiny_task(kind, n=12, seed=0):
    """A conv net with a head (float64) and a task on random 2×4×4 images of 3 classes. No tensor but the head's
    has 3 rows, so the reference's test for the head (first dimension = class count) finds the last Linear."""
    from core.data.base import Recipe
    from core.methods import UnlearnTask
    from core.train import TrainConfig

    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                              torch.nn.Linear(64, 3)).double()
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(n, 2, 4, 4, generator=g, dtype=torch.float64), torch.arange(n) % 3
    forget = (y == 1) if kind == "classes" else (torch.arange(n) % 4 == 0)
    task = UnlearnTask(forget=TensorDataset(x[forget], y[forget]), retain=TensorDataset(x[~forget], y[~forget]),
                       num_classes=3, forget_kind=kind, forget_classes=(1,) if kind == "classes" else (),
                       recipe=Recipe(epochs=1, milestones=(), lr_decay=0.1, finetune_epochs=1),
                       train_config=TrainConfig(), card={}, device=torch.device("cpu"))
    return net, task


def reference_fisher_noise(net, task, alpha, seed):
    """The reference's FisherForgetting written out: true Fisher on Dr one sample and one class at a time,
    variance α·min(1/(I + 1e-8), 1e3) (1e2 on the head), averaged over dim 1 only, the forgotten rows of the
    head at mean 0 and variance 1e-4, ×10 on the head (classes only) and on 1-D tensors; then N(μ, σ²)."""
    params = list(net.parameters())
    fisher = [torch.zeros_like(p) for p in params]
    x, _ = task.retain.tensors
    for xi in x:
        out = net(xi[None])[0]
        probs = torch.softmax(out, 0).detach()
        for cls in range(len(out)):
            grads = torch.autograd.grad(torch.log_softmax(out, 0)[cls], params, retain_graph=True)
            for f, g in zip(fisher, grads):
                f += probs[cls] * g ** 2 / len(x)
    gen = torch.Generator().manual_seed(seed)
    classes = task.forget_kind == "classes"
    expected = []
    for p, f in zip(params, fisher):
        head = p.shape[0] == task.num_classes
        var = (1.0 / (f + 1e-8)).clamp(max=1e2 if head else 1e3) * alpha
        if p.ndim > 1:
            var = var.mean(dim=1, keepdim=True).expand_as(p).clone()
        mu = p.detach().clone()
        if head and classes:
            mu[1], var[1] = 0.0, 1e-4
        if (head and classes) or p.ndim == 1:
            var = var * 10
        expected.append(mu + var.sqrt() * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    return expected


@pytest.mark.parametrize("kind", ["classes", "random"])
def test_fisher_forgetting_is_the_reference_computation(kind):
    net, task = tiny_task(kind)
    expected = reference_fisher_noise(copy.deepcopy(net), task, alpha=1e-3, seed=4)
    m = get_method("fisher_forgetting")
    out, _ = m.run(net, task, m.config(alpha=1e-3, seed=4))
    for p, e in zip(out.parameters(), expected):
        torch.testing.assert_close(p.detach(), e, rtol=1e-9, atol=1e-12)


def test_neggrad_plus_forgets_class_0_for_every_seed(class0):
    """Issue 18's bar: Acc(Df) within 2 points of gold's for seeds 0–4 (the small-data setting)."""
    spec, prep, gold = class0
    from core.evaluate import outputs

    gold_acc = outputs(gold[0], prep.task.forget, device="cpu").accuracy
    m = get_method("neggrad_plus")
    for seed in range(5):
        model, _ = m.run(copy.deepcopy(prep.model), prep.task, m.config(seed=seed, **SMALL_DATA["neggrad_plus"]))
        assert outputs(model, prep.task.forget, device="cpu").accuracy <= gold_acc + 0.02, seed


def bn_net(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                               torch.nn.Flatten(), torch.nn.Linear(64, 3)).double()


@pytest.mark.parametrize("name", [n for n, m in METHODS.items() if "batchnorm" in {o.name for o in options(m.config)}])
def test_training_methods_follow_the_reference_batchnorm_mode(name, monkeypatch):
    """BatchNorm trains on batch statistics by default (running statistics move), and stays put when frozen."""
    import core.cards

    monkeypatch.setattr(core.cards, "fresh_model", lambda card, seed: bn_net(seed + 1))  # bad teacher's random net
    _, task = tiny_task("classes", n=48)
    small = dict(noise_batch=8, noise_epochs=1, noise_steps=1) if name == "unsir" else {}
    small |= {"forget_batch_size": 8} if name == "scrub" else {}
    small |= {"batch_size": 8} if "batch_size" in {o.name for o in options(METHODS[name].config)} else {}
    for mode, moves in (("train", True), ("frozen", False)):
        model = bn_net()
        before = model[1].running_mean.clone()
        get_method(name).run(model, task, get_method(name).config(batchnorm=mode, **small))
        assert (not torch.equal(before, model[1].running_mean)) == moves, (name, mode)


def test_salun_draws_fresh_random_labels_every_epoch(class0):
    from core.methods.salun import fresh_labels

    _, prep, _ = class0
    epoch = fresh_labels(prep.task, seed=0)
    first, second = epoch(0).tensors[1][:133], epoch(1).tensors[1][:133]
    assert not torch.equal(first, second) and torch.equal(first, epoch(0).tensors[1][:133])
    assert (first == 0).any()  # uniform over all classes, the true one included, as the reference draws them
