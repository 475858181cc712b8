"""SSD and Loss-Free SSD against independent computations of their update on a 2-layer network.

`ssd` and `lfssd` are checked against the reference's computation written out here from its description
(the SSD paper's Eq. 3–4 and the authors' `calc_importance` / `modify_weight` / loaders, README "Implementing
LFSSD"): importance = mean over the unshuffled batches of the squared (SSD) or absolute (LFSSD) gradient of
the batch-mean objective, D = Dr by class then Df. `ssd_retain` (ours) is checked against per-sample
gradients written out by hand with the chain rule.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

from core.data.base import Recipe
from core.methods import UnlearnTask, get_method
from core.methods.lfssd import LFSSDConfig
from core.methods.lfssd import run as lfssd_run
from core.methods.ssd import SSDConfig
from core.methods.ssd import run as ssd_run
from core.methods.ssd_retain import SSDRetainConfig
from core.methods.ssd_retain import run as ssd_retain_run
from core.train import TrainConfig


def two_layer(seed=0, hidden=5):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, hidden), nn.ReLU(), nn.Linear(hidden, 4)).double()


def data(seed, n=None):
    g = torch.Generator().manual_seed(seed)
    n = n or (6 if seed else 3)
    return TensorDataset(torch.randn(n, 3, generator=g, dtype=torch.float64), torch.randint(0, 4, (n,), generator=g))


def task(forget, retain, kind="indices", classes=()):
    return UnlearnTask(forget=forget, retain=retain, num_classes=4, forget_kind=kind, forget_classes=classes,
                       recipe=Recipe(epochs=1, milestones=(), lr_decay=0.1, finetune_epochs=1),
                       train_config=TrainConfig(), card={}, device=torch.device("cpu"))


# --- the reference form (ssd, lfssd), written independently -------------------------------------------------

def reference_importance(net, xs, ys, batch, label_free):
    """For each consecutive batch: backward of the batch-mean loss, add grad² (SSD) or |grad| (LFSSD);
    divide by the number of batches."""
    acc = [torch.zeros_like(p) for p in net.parameters()]
    starts = list(range(0, len(xs), batch))
    for s in starts:
        net.zero_grad()
        out = net(xs[s:s + batch])
        loss = out.pow(2).sum(1).mean() if label_free else F.cross_entropy(out, ys[s:s + batch])
        loss.backward()
        for a, p in zip(acc, net.parameters()):
            a += p.grad.abs() if label_free else p.grad.pow(2)
    return [a / len(starts) for a in acc]


def reference_update(net, forget, retain, *, by_class, forget_batch, batch, alpha, lam, label_free):
    """The reference's SSD on `net` (eval mode, unshuffled loaders; D = Dr then Df, class by class when
    forgetting classes): returns the dampened parameters and the number selected."""
    def ordered(d):
        if not by_class:
            return list(range(len(d.tensors[1])))
        classwise = {}
        for i, c in enumerate(d.tensors[1].tolist()):
            classwise.setdefault(c, []).append(i)
        return [i for c in sorted(classwise) for i in classwise[c]]

    fo, ro = ordered(forget), ordered(retain)
    xf, yf = forget.tensors[0][fo], forget.tensors[1][fo]
    xd = torch.cat([retain.tensors[0][ro], xf])
    yd = torch.cat([retain.tensors[1][ro], yf])
    net.eval()
    i_f = reference_importance(net, xf, yf, forget_batch, label_free)
    i_d = reference_importance(net, xd, yd, batch, label_free)
    new, selected = [], 0
    for p, f, d in zip(net.parameters(), i_f, i_d):
        p, f, d = p.detach().numpy(), f.numpy(), d.numpy()
        chosen = f > alpha * d
        factor = np.ones_like(p)
        factor[chosen] = np.minimum(lam * d[chosen] / f[chosen], 1.0)
        new.append(p * factor)
        selected += int(chosen.sum())
    return new, selected


def class_split(n, forget_class, seed):
    d = data(seed, n)
    f = d.tensors[1] == forget_class
    return TensorDataset(*(t[f] for t in d.tensors)), TensorDataset(*(t[~f] for t in d.tensors))


@pytest.mark.parametrize("name", ["ssd", "lfssd"])
def test_reference_form_matches_an_independent_computation_when_forgetting_a_class(name):
    forget, retain = class_split(60, 2, seed=3)  # Dr 43, Df 17: a batch of 8 straddles the Dr/Df boundary
    alpha, lam = 1.5, 0.8
    expected, selected = reference_update(two_layer(), forget, retain, by_class=True, forget_batch=8, batch=8,
                                          alpha=alpha, lam=lam, label_free=name == "lfssd")
    total = sum(p.numel() for p in two_layer().parameters())
    assert 0 < selected < total  # the case exercises both branches
    run, cfg = (ssd_run, SSDConfig) if name == "ssd" else (lfssd_run, LFSSDConfig)
    out, info = run(two_layer(), task(forget, retain, "classes", (2,)),
                    cfg(alpha=alpha, dampening=lam, batch_size=8, forget_batch_size=8))
    assert info["weights_dampened"] == selected
    for p, e in zip(out.parameters(), expected):
        np.testing.assert_allclose(p.detach().numpy(), e, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("name", ["ssd", "lfssd"])
def test_reference_form_uses_the_reference_batches_on_random_samples(name):
    # Df of 150 in the reference's batches of 128 (random forgetting), D in batches of 64, dataset order
    forget, retain = data(5, 150), data(6, 300)
    expected, selected = reference_update(two_layer(hidden=8), forget, retain, by_class=False, forget_batch=128,
                                          batch=64, alpha=1.2, lam=1.0, label_free=name == "lfssd")
    run, cfg = (ssd_run, SSDConfig) if name == "ssd" else (lfssd_run, LFSSDConfig)
    out, info = run(two_layer(hidden=8), task(forget, retain, "random"), cfg(alpha=1.2))
    assert info["weights_dampened"] == selected > 0
    for p, e in zip(out.parameters(), expected):
        np.testing.assert_allclose(p.detach().numpy(), e, rtol=1e-10, atol=1e-13)


def test_batch_importance_bound_holds_only_when_df_batches_sit_inside_d():
    # Dr of 40 = 5 batches of 8: Df's 3 batches are also D's last 3, so []_Df/[]_D <= 8/3 everywhere
    forget, retain = class_split(60, 2, seed=3)
    aligned = TensorDataset(*(t[:40] for t in retain.tensors))
    _, info = ssd_run(two_layer(), task(forget, aligned, "classes", (2,)),
                      SSDConfig(alpha=10.0, batch_size=8, forget_batch_size=8))
    d_batches, f_batches = -(-(40 + len(forget.tensors[0])) // 8), -(-len(forget.tensors[0]) // 8)
    assert info["largest_ratio"] <= d_batches / f_batches * (1 + 1e-9)
    # Dr of 43: the boundary batch mixes Dr and Df and Df's batches are shifted; nothing bounds the ratio
    _, info = ssd_run(two_layer(), task(forget, retain, "classes", (2,)),
                      SSDConfig(alpha=10.0, batch_size=8, forget_batch_size=8))
    assert info["largest_ratio"] > 3 * -(-(43 + len(forget.tensors[0])) // 8) / f_batches  # 13.7 against 8/3


def test_lfssd_ignores_labels():
    forget, retain = data(0), data(1)
    shuffled = [TensorDataset(d.tensors[0], torch.roll(d.tensors[1], 1)) for d in (forget, retain)]
    a, _ = lfssd_run(two_layer(), task(forget, retain), LFSSDConfig(alpha=1.5))
    b, _ = lfssd_run(two_layer(), task(*shuffled), LFSSDConfig(alpha=1.5))
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)


def test_ssd_plain_loss_form_is_the_reference_float32_cross_entropy():
    forget, retain = class_split(60, 2, seed=3)
    net = two_layer().float()
    f32 = lambda d: TensorDataset(d.tensors[0].float(), d.tensors[1])  # noqa: E731
    a, _ = ssd_run(two_layer().float(), task(f32(forget), f32(retain), "classes", (2,)),
                   SSDConfig(alpha=1.5, batch_size=8, forget_batch_size=8, loss="plain"))
    b, _ = ssd_run(net, task(f32(forget), f32(retain), "classes", (2,)),
                   SSDConfig(alpha=1.5, batch_size=8, forget_batch_size=8))
    for p, q in zip(a.parameters(), b.parameters()):  # no confident sample here: the two forms agree
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-7)


# --- our per-sample form (ssd_retain) -------------------------------------------------------------------------

def per_sample_grads(net, x, y):
    """Per-sample gradients of log softmax(z)[y] for a 2-layer ReLU net, by hand (chain rule, no autograd)."""
    w1, b1 = net[0].weight.detach().numpy(), net[0].bias.detach().numpy()
    w2, b2 = net[2].weight.detach().numpy(), net[2].bias.detach().numpy()
    out = {k: [] for k in ("0.weight", "0.bias", "2.weight", "2.bias")}
    for xi, yi in zip(x.numpy(), y.numpy()):
        a = w1 @ xi + b1
        h = np.maximum(a, 0)
        z = w2 @ h + b2
        p = np.exp(z - z.max())
        p /= p.sum()
        dz = -p  # d log softmax(z)[y] / dz = onehot(y) − softmax(z)
        dz[yi] += 1
        da = (w2.T @ dz) * (a > 0)
        out["2.weight"].append(np.outer(dz, h))
        out["2.bias"].append(dz)
        out["0.weight"].append(np.outer(da, xi))
        out["0.bias"].append(da)
    return out


def hand_update(net, forget, retain, alpha, lam, reference):
    gf = per_sample_grads(net, *forget.tensors)
    gr = per_sample_grads(net, *retain.tensors)
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


@pytest.mark.parametrize("reference", ["retain", "train"])
def test_ssd_retain_matches_a_hand_computation(reference):
    forget, retain = data(0), data(1)
    net = two_layer()
    alpha, lam = 1.5, 0.8
    expected, selected = hand_update(net, forget, retain, alpha, lam, reference)
    total = sum(p.numel() for p in net.parameters())
    assert 0 < selected < total
    out, info = ssd_retain_run(net, task(forget, retain), SSDRetainConfig(alpha=alpha, dampening=lam,
                                                                          reference=reference))
    assert info["weights_dampened"] == selected
    for n, p in out.named_parameters():
        np.testing.assert_allclose(p.detach().numpy(), expected[n], rtol=1e-9, atol=1e-12)


def test_unknown_reference_is_refused():
    with pytest.raises(ValueError, match="reference must be"):
        ssd_retain_run(two_layer(), task(data(0), data(1)), SSDRetainConfig(reference="everything"))


def test_ssd_is_the_reference_and_ssd_retain_shares_deepclean_s_fisher():
    assert get_method("ssd").importance == () and get_method("ssd_retain").importance == ("fisher",)
    assert "ours" in get_method("ssd_retain").citation
