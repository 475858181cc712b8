"""SSD and Loss-Free SSD against a hand computation of their update on a 2-layer network."""

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from core.data.base import Recipe
from core.methods import UnlearnTask
from core.methods.lfssd import LFSSDConfig
from core.methods.lfssd import run as lfssd_run
from core.methods.ssd import SSDConfig
from core.methods.ssd import run as ssd_run
from core.train import TrainConfig


def two_layer(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 4)).double()


def data(seed):
    g = torch.Generator().manual_seed(seed)
    return TensorDataset(torch.randn(6 if seed else 3, 3, generator=g, dtype=torch.float64),
                         torch.randint(0, 4, (6 if seed else 3,), generator=g))


def per_sample_grads(net, x, y, objective):
    """Per-sample gradients of a 2-layer ReLU net written out by hand (chain rule, no autograd)."""
    w1, b1 = net[0].weight.detach().numpy(), net[0].bias.detach().numpy()
    w2, b2 = net[2].weight.detach().numpy(), net[2].bias.detach().numpy()
    out = {k: [] for k in ("0.weight", "0.bias", "2.weight", "2.bias")}
    for xi, yi in zip(x.numpy(), y.numpy()):
        a = w1 @ xi + b1
        h = np.maximum(a, 0)
        z = w2 @ h + b2
        if objective == "loglik":  # d log softmax(z)[y] / dz = onehot(y) − softmax(z)
            p = np.exp(z - z.max())
            p /= p.sum()
            dz = -p
            dz[yi] += 1
        else:  # d ||z||² / dz = 2z
            dz = 2 * z
        da = (w2.T @ dz) * (a > 0)
        out["2.weight"].append(np.outer(dz, h))
        out["2.bias"].append(dz)
        out["0.weight"].append(np.outer(da, xi))
        out["0.bias"].append(da)
    return out


def hand_update(net, forget, retain, objective, alpha, lam, reference):
    gf = per_sample_grads(net, *forget.tensors, objective)
    gr = per_sample_grads(net, *retain.tensors, objective)
    params = {n: p.detach().numpy().copy() for n, p in net.named_parameters()}
    selected = 0
    for n in params:
        i_f = np.mean(np.square(gf[n]), axis=0)
        if reference == "retain":
            i_d = np.mean(np.square(gr[n]), axis=0)
        else:
            i_d = np.mean(np.square(np.concatenate([gf[n], gr[n]])), axis=0)  # the mean over D = Dr ∪ Df
        chosen = i_f > alpha * i_d
        beta = np.minimum(lam * i_d / np.where(chosen, i_f, 1.0), 1.0)
        params[n] = np.where(chosen, params[n] * beta, params[n])
        selected += int(chosen.sum())
    return params, selected


def task(forget, retain):
    return UnlearnTask(forget=forget, retain=retain, num_classes=4, forget_kind="indices", forget_classes=(),
                       recipe=Recipe(epochs=1, milestones=(), lr_decay=0.1, finetune_epochs=1),
                       train_config=TrainConfig(), card={}, device=torch.device("cpu"))


@pytest.mark.parametrize("reference", ["retain", "train"])
@pytest.mark.parametrize("name", ["ssd", "lfssd"])
def test_update_matches_a_hand_computation(name, reference):
    forget, retain = data(0), data(1)
    net = two_layer()
    alpha, lam = 1.5, 0.8
    expected, selected = hand_update(net, forget, retain, "loglik" if name == "ssd" else "norm", alpha, lam, reference)
    total = sum(p.numel() for p in net.parameters())
    assert 0 < selected < total  # the case exercises both branches
    run, cfg = (ssd_run, SSDConfig) if name == "ssd" else (lfssd_run, LFSSDConfig)
    out, info = run(net, task(forget, retain), cfg(alpha=alpha, dampening=lam, reference=reference))
    assert info["weights_dampened"] == selected
    for n, p in out.named_parameters():
        np.testing.assert_allclose(p.detach().numpy(), expected[n], rtol=1e-9, atol=1e-12)


def test_lfssd_ignores_labels():
    forget, retain = data(0), data(1)
    shuffled = [TensorDataset(d.tensors[0], torch.roll(d.tensors[1], 1)) for d in (forget, retain)]
    a, _ = lfssd_run(two_layer(), task(forget, retain), LFSSDConfig(alpha=1.5))
    b, _ = lfssd_run(two_layer(), task(*shuffled), LFSSDConfig(alpha=1.5))
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)


def test_unknown_reference_is_refused():
    with pytest.raises(ValueError, match="reference must be"):
        ssd_run(two_layer(), task(data(0), data(1)), SSDConfig(reference="everything"))
