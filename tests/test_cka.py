"""Linear CKA against its definition and its known properties (Kornblith et al., 2019)."""

import numpy as np
import torch
from torch import nn

from core.cka import cka_frame, layer_modules, linear_cka


def naive(x, y):
    """HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)) with K = XXᵀ, L = YYᵀ and the centring matrix H, written out."""
    n = len(x)
    h = np.eye(n) - np.ones((n, n)) / n
    hsic = lambda a, b: np.trace(a @ h @ b @ h)  # noqa: E731
    k, l_ = x @ x.T, y @ y.T
    return hsic(k, l_) / np.sqrt(hsic(k, k) * hsic(l_, l_))


def test_linear_cka_matches_the_hsic_definition_and_its_invariances():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 5)), rng.normal(size=(40, 3))
    assert np.isclose(linear_cka(x, y), naive(x, y))
    wide = rng.normal(size=(10, 60))  # features outnumber samples: the Gram form
    assert np.isclose(linear_cka(wide, x[:10]), naive(wide, x[:10]))
    assert np.isclose(linear_cka(x, x), 1.0)
    q, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    assert np.isclose(linear_cka(x, 3.0 * x @ q + 7.0), 1.0)  # rotation, isotropic scale and shift
    assert linear_cka(x, rng.normal(size=(40, 5))) < 0.5


def test_cka_per_layer_is_one_for_an_unchanged_model_and_lower_where_a_layer_moved():
    torch.manual_seed(0)
    a = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    b = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    b.load_state_dict(a.state_dict())
    with torch.no_grad():
        b[2].weight.copy_(torch.randn(3, 8))
    assert layer_modules(a) == {"0": "dense 1", "2": "output layer"}
    frame = cka_frame({"unlearned": b, "original": a}, torch.randn(50, 4))
    by = dict(zip(frame["layer"], frame["cka"]))
    assert np.isclose(by["dense 1"], 1.0) and by["output layer"] < 0.99
