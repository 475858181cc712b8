"""The fast Fisher diagonal against a naive one-sample-at-a-time loop (relative error < 1e-4 per tensor)."""

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

from core.fisher import fisher_diagonal, output_norm_sensitivity, squared_grad_mean
from core.models import build_model


def naive(model, data, objective):
    model.eval()
    sums = {n: torch.zeros_like(p) for n, p in model.named_parameters()}
    x, y = data.tensors
    for i in range(len(x)):
        model.zero_grad()
        objective(model(x[i:i + 1]), y[i:i + 1]).sum().backward()
        for n, p in model.named_parameters():
            sums[n] += p.grad ** 2
    return {n: v / len(x) for n, v in sums.items()}


def log_lik(out, y):
    return -F.cross_entropy(out, y, reduction="none")


def sq_norm(out, y):
    return out.pow(2).sum(1)


def _randomise_bn(model):
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)


def _case(name, shape, width):
    torch.manual_seed(0)
    kwargs = {} if name == "cnn_small" else {"width": width}
    model = build_model(name, shape, 5, **kwargs).double()
    _randomise_bn(model)
    x = torch.randn(13, *shape, dtype=torch.float64)
    y = torch.arange(13) % 5
    return model, TensorDataset(x, y)


def rel_err(a, b):
    return float((a - b).norm() / b.norm().clamp_min(1e-300))


@pytest.mark.parametrize("name,shape,width", [("cnn_small", (1, 8, 8), None), ("cnn_small", (3, 16, 16), None),
                                              ("resnet18", (3, 8, 8), 4), ("vgg16_bn", (1, 8, 8), 4)])
@pytest.mark.parametrize("fast,objective", [(fisher_diagonal, log_lik), (output_norm_sensitivity, sq_norm)])
def test_matches_naive_loop_per_tensor(name, shape, width, fast, objective):
    model, data = _case(name, shape, width)
    ref = naive(model, data, objective)
    got = fast(model, data, batch_size=5)
    assert set(got) == set(ref)
    for k in ref:
        assert rel_err(got[k], ref[k]) < 1e-4, k


def test_float32_is_exact_too():
    torch.manual_seed(0)
    model = build_model("cnn_small", (1, 8, 8), 10)
    data = TensorDataset(torch.randn(40, 1, 8, 8), torch.arange(40) % 10)
    ref, got = naive(model, data, log_lik), fisher_diagonal(model, data, batch_size=16)
    assert max(rel_err(got[k], ref[k]) for k in ref) < 1e-4


def test_not_the_square_of_the_batch_mean_gradient():
    model, data = _case("cnn_small", (1, 8, 8), None)
    got = fisher_diagonal(model, data, batch_size=13)
    model.zero_grad()
    log_lik(model(data.tensors[0]), data.tensors[1]).mean().backward()
    sq_of_mean = model[0].weight.grad ** 2
    assert rel_err(sq_of_mean, got["0.weight"]) > 0.1


def test_batch_size_does_not_change_the_result_and_mode_is_restored():
    model, data = _case("resnet18", (3, 8, 8), 4)
    model.train()
    a = fisher_diagonal(model, data, batch_size=1)
    b = fisher_diagonal(model, data, batch_size=13)
    assert model.training
    assert all(rel_err(a[k], b[k]) < 1e-10 for k in a)


def test_max_samples_is_a_seeded_subsample():
    model, data = _case("cnn_small", (1, 8, 8), None)
    a = fisher_diagonal(model, data, batch_size=4, max_samples=6, seed=3)
    b = fisher_diagonal(model, data, batch_size=4, max_samples=6, seed=3)
    full = fisher_diagonal(model, data, batch_size=4)
    assert all(torch.equal(a[k], b[k]) for k in a) and any(not torch.allclose(a[k], full[k]) for k in a)


def test_other_layers_fall_back_to_torch_func():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3, groups=1, padding="same"), nn.GroupNorm(1, 3), nn.Flatten(),
                          nn.LayerNorm(48), nn.Linear(48, 4)).double()
    data = TensorDataset(torch.randn(7, 1, 4, 4, dtype=torch.float64), torch.arange(7) % 4)
    ref, got = naive(model, data, log_lik), squared_grad_mean(model, data, log_lik, batch_size=3)
    assert all(rel_err(got[k], ref[k]) < 1e-4 for k in ref)


def test_a_layer_used_twice_is_refused():
    lin = nn.Linear(4, 4)
    model = nn.Sequential(lin, nn.ReLU(), lin)
    with pytest.raises(ValueError, match="twice"):
        fisher_diagonal(model, TensorDataset(torch.randn(3, 4), torch.zeros(3, dtype=torch.long)), batch_size=3)


@pytest.mark.parametrize("grouped", [True, False])
def test_both_conv_paths_are_exact(monkeypatch, grouped):
    import core.fisher as fz

    monkeypatch.setattr(fz, "CONV_GROUPED_MIN_POSITIONS", 1 if grouped else 10**9)
    monkeypatch.setattr(fz, "CONV_GROUPED_MAX_RATIO", 10**9)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 4, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(4, 3, 3, dilation=2),
                          nn.Flatten(), nn.LazyLinear(5)).double()
    data = TensorDataset(torch.randn(9, 2, 12, 12, dtype=torch.float64), torch.arange(9) % 5)
    model(data.tensors[0][:1])
    ref, got = naive(model, data, log_lik), fisher_diagonal(model, data, batch_size=4)
    assert all(rel_err(got[k], ref[k]) < 1e-4 for k in ref)


def test_exact_for_confident_samples_in_float32():
    """Where 1 − p(y|x) is below float32's resolution, −cross_entropy rounds the true-class gradient to 0."""
    torch.manual_seed(0)
    model = build_model("cnn_small", (1, 8, 8), 10)
    x = torch.randn(400, 1, 8, 8)
    with torch.no_grad():
        z = model(x)
        y = z.argmax(1)
        gap = (z.gather(1, y[:, None]) - z.scatter(1, y[:, None], float("-inf"))).min(1).values
        scale = 26.0 / gap.median()
        model[-1].weight.mul_(scale)
        model[-1].bias.mul_(scale)
        gap = gap * scale
    keep = (gap > 17) & (gap < 27)  # 1 − p below float32 resolution, resolved by float64 to < 1e-4
    assert keep.sum() >= 20
    data = TensorDataset(x[keep], y[keep])
    ref64 = naive(copy.deepcopy(model).double(), TensorDataset(x[keep].double(), y[keep]), log_lik)
    got = fisher_diagonal(model, data, batch_size=16)
    assert max(rel_err(got[k], ref64[k].float()) for k in ref64) < 1e-4
    rounded = squared_grad_mean(model, data, log_lik, batch_size=16)  # the float32 cross-entropy, for contrast
    assert max(rel_err(rounded[k], ref64[k].float()) for k in ref64) > 0.1
