"""The stable log-likelihood against a float64 reference, in value and gradient, confident rows included."""

import torch
import torch.nn.functional as F

from core.likelihood import log_likelihood, nll


def _logits():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(64, 10, generator=g)
    y = torch.randint(0, 10, (64,), generator=g)
    z[torch.arange(32), y[:32]] += torch.linspace(0, 33, 32)  # half the rows confident, up to 1 − p ≈ 1e-14
    return z, y


def _reference(z64, y):
    """log p_y = −log(1 + Σ_{j≠y} exp(z_j − z_y)) in float64 (log_softmax itself cancels to 1e-3 here)."""
    diff = z64 - z64.gather(1, y[:, None])
    others = torch.ones_like(diff, dtype=torch.bool).scatter(1, y[:, None], False)
    return -torch.log1p((diff.exp() * others).sum(1))


def test_value_and_gradient_match_float64():
    z, y = _logits()
    z32 = z.clone().requires_grad_(True)
    log_likelihood(z32, y).sum().backward()
    z64 = z.double().requires_grad_(True)
    ref = _reference(z64, y)
    ref.sum().backward()
    got = log_likelihood(z, y).double()
    assert torch.allclose(got, ref.detach(), rtol=1e-5, atol=0)
    assert torch.allclose(z32.grad.double(), z64.grad, rtol=1e-5, atol=1e-30)
    assert torch.equal(nll(z, y), -log_likelihood(z, y))


def test_float32_cross_entropy_loses_what_it_keeps():
    z, y = _logits()
    z32 = z.clone().requires_grad_(True)
    F.cross_entropy(z32, y, reduction="sum").backward()
    true_grad = z32.grad.gather(1, y[:, None]).squeeze(1)
    assert (true_grad[:32] == 0).any()  # the rounding this module exists to avoid
    zs = z.clone().requires_grad_(True)
    log_likelihood(zs, y).sum().backward()
    assert (zs.grad.gather(1, y[:, None]) > 0).all()


def test_log_softmax_and_kl_keep_every_gradient_on_confident_rows():
    from core.likelihood import kl_divergence, log_softmax

    z, _ = _logits()
    t = z * 1.1  # a teacher confident on the same class: float32's p_s − p_t is 1 − 1 there

    def grads(fn, z):
        z = z.clone().requires_grad_(True)
        fn(z).backward()
        return z.grad.double()

    kl = lambda z: kl_divergence(log_softmax(t), log_softmax(z), reduction="sum")  # noqa: E731
    kl64 = lambda z: (F.softmax(t.double(), 1) * (F.log_softmax(t.double(), 1) - F.log_softmax(z, 1))).sum()  # noqa: E731
    g32, g64 = grads(kl, z), grads(kl64, z.double())
    assert torch.allclose(g32, g64, rtol=2e-3, atol=1e-30)  # relative (float32 logs of p ~ 1e-12), to 1e-14
    assert torch.allclose(kl(z).double(), kl64(z.double()), rtol=1e-4)
    top = z.argmax(1, keepdim=True)
    gap = (z.double() - z.double().gather(1, top)).exp().scatter(1, top, 0.0)
    ref = torch.log1p(gap.sum(1))  # −log p_top = log(1 + Σ_{j≠top} e^(z_j − z_top))
    assert torch.allclose(log_softmax(z).double(), F.log_softmax(z.double(), 1), rtol=1e-5)
    assert torch.allclose(-log_softmax(z).max(1).values.double(), ref, rtol=1e-5, atol=0)  # to 1e-14
    plain = grads(lambda z: F.kl_div(F.log_softmax(z, 1), F.softmax(t, 1), reduction="sum"), z)
    top = z.argmax(1, keepdim=True)
    assert (plain.gather(1, top)[:32] == 0).any() and (g32.gather(1, top) != 0).all()


def test_cross_entropy_forms():
    from core.likelihood import cross_entropy

    z, y = _logits()
    assert torch.equal(cross_entropy(z, y), nll(z, y).mean())
    assert torch.equal(cross_entropy(z, y, reduction="none"), nll(z, y))
    assert torch.equal(cross_entropy(z, y, form="plain", reduction="sum"), F.cross_entropy(z, y, reduction="sum"))


def test_gradient_ascent_on_a_saturated_model_moves_the_forgotten_class_only_with_the_exact_form():
    """A tiny model made saturated on purpose (Df's loss < 1e-10): one Adam step of gradient ascent on Df.

    The true class's head row and bias get gradient only from −(1 − p_y), which float32's cross_entropy rounds
    to exactly 0: the plain form leaves them bit for bit as they were, the exact one moves them (by 1e-5 here:
    Adam divides the 1e-10-sized gradient by about its ε). The other classes' rows get p_j, which both forms
    keep; they move either way, and neither form raises Df's loss measurably in one step."""
    import copy

    from torch import nn

    from core.likelihood import cross_entropy

    torch.manual_seed(0)
    x = torch.randn(24, 4, generator=torch.Generator().manual_seed(0))
    y = torch.arange(24) % 3
    net = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
    opt = torch.optim.Adam(net.parameters(), lr=0.05)
    for _ in range(300):
        opt.zero_grad()
        cross_entropy(net(x), y).backward()
        opt.step()
    xf, yf = x[y == 0], y[y == 0]
    with torch.no_grad():  # saturate on purpose: scale the logits until Df's loss is below 1e-10
        while cross_entropy(net(xf), yf).item() >= 1e-10:
            net[2].weight.mul_(1.25)
            net[2].bias.mul_(1.25)
    assert 0 < cross_entropy(net(xf), yf).item() < 1e-10 and F.cross_entropy(net(xf), yf).item() == 0.0

    moved = {}
    for form in ("exact", "plain"):
        m = copy.deepcopy(net)
        step = torch.optim.Adam(m.parameters(), lr=1e-3)
        (-cross_entropy(m(xf), yf, form=form)).backward()
        step.step()
        moved[form] = ((m[2].weight[0] - net[2].weight[0]).abs().max().item(),
                       (m[2].bias[0] - net[2].bias[0]).abs().item())
    assert min(moved["exact"]) > 1e-6  # float32 resolves 1e-7 on these weights
    assert moved["plain"] == (0.0, 0.0)
