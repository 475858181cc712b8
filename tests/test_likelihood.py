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
