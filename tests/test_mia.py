"""The entropy MIA against the reference's computation, written out here from its description.

The reference (SSD / bad-teacher `metrics.py`): entropy −Σ p log p of each softmax row (0 where p = 0), all
of Dr labelled member and all of the test set non-member, `LogisticRegression(class_weight="balanced",
solver="lbfgs", multi_class="multinomial")` with C = 1, the MIA = the fraction of Df predicted member. The
two-class multinomial fit is solved here directly: a weight and a bias per class, softmax loss weighted
n/(2·n_class) per sample, penalty ½(w₀² + w₁²), minimised to convergence; predict member where class 1's
logit is the larger.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.optimize import minimize
from torch import nn

from core.forget import ForgetSpec
from core.methods import get_method
from core.mia import EntropyAttack, entropy, entropy_mia
from core.prepare import prepare


def reference_entropy(probs: np.ndarray) -> np.ndarray:
    p = torch.from_numpy(probs)
    return (-torch.where(p > 0, p * p.log(), p.new([0.0])).sum(dim=-1)).numpy()


def reference_mia(retain, test, forget):
    """(MIA, decision slope, decision intercept) of the two-class multinomial logistic regression."""
    h = np.concatenate([reference_entropy(retain), reference_entropy(test)]).astype(np.float64)
    y = np.concatenate([np.ones(len(retain)), np.zeros(len(test))]).astype(int)
    weight = np.where(y == 1, len(y) / (2 * len(retain)), len(y) / (2 * len(test)))
    onehot = np.eye(2)[y]

    def objective(theta):
        w, b = theta[:2], theta[2:]
        z = h[:, None] * w + b  # logits of classes 0 and 1, n×2
        log_p = z - np.logaddexp(z[:, 0], z[:, 1])[:, None]
        residual = (np.exp(log_p) - onehot) * weight[:, None]
        value = -(weight * (log_p * onehot).sum(1)).sum() + 0.5 * (w ** 2).sum()
        return value, np.concatenate([(residual * h[:, None]).sum(0) + w, residual.sum(0)])

    fit = minimize(objective, np.zeros(4), jac=True, method="BFGS", options={"gtol": 1e-11, "maxiter": 10_000})
    w, b = fit.x[:2], fit.x[2:]
    slope, intercept = w[1] - w[0], b[1] - b[0]
    return float((slope * reference_entropy(forget) + intercept > 0).mean()), slope, intercept


@pytest.fixture(scope="module")
def tiny_probs():
    """Softmax outputs of a small network trained on its members: members, non-members and a forget set."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(700, 6, generator=g)
    y = (x[:, :3].sum(1) > 0).long() + (x[:, 3] > 0.5).long()
    net = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))
    opt = torch.optim.Adam(net.parameters(), lr=0.02)
    for _ in range(300):  # fit the 300 members (Dr and Df) hard, so members look more confident
        opt.zero_grad()
        F.cross_entropy(net(x[:300]), y[:300]).backward()
        opt.step()
    with torch.no_grad():
        probs = F.softmax(net(x), 1).numpy()
    return probs[:240], probs[300:700], probs[240:300]  # Dr 240, test 400 (unequal on purpose), Df 60


def test_mia_is_the_reference_fit_on_all_members_and_non_members(tiny_probs):
    retain, test, forget = tiny_probs
    expected, slope, intercept = reference_mia(retain, test, forget)
    attack = EntropyAttack.fit(retain, test)
    assert attack.clf.coef_[0, 0] == pytest.approx(slope, rel=1e-5)
    assert attack.clf.intercept_[0] == pytest.approx(intercept, rel=1e-5, abs=1e-7)
    assert abs(entropy_mia(retain, test, forget) - expected) <= 0.005
    assert 0.05 < expected < 0.95  # the threshold falls inside the forget set: the check can fail
    # the fit has no randomness: every member and non-member is used whatever the seed
    assert entropy_mia(retain, test, forget, seed=1) == entropy_mia(retain, test, forget, seed=2)


def test_entropy_counts_zero_probabilities_as_zero_in_the_probabilities_precision():
    p = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [1e-30, 1 - 1e-7, 1e-7]], dtype=np.float32)
    got = entropy(p)
    assert got.dtype == np.float32 and got[0] == 0.0
    np.testing.assert_allclose(got, reference_entropy(p), rtol=1e-6)


@pytest.fixture(scope="module")
def digits_class0(shipped):
    return prepare(shipped, ForgetSpec.of_classes([0]), device="cpu")


@pytest.mark.parametrize("model", ["original", "zero_weights", "ssd_retain"])
def test_mia_agrees_with_the_reference_on_the_shipped_model(digits_class0, model):
    prep = digits_class0
    if model == "original":
        outs = prep.original()
    else:
        m = get_method(model)
        unlearned, _ = m.run(__import__("copy").deepcopy(prep.model), prep.task, m.config())
        outs = prep.evaluate(unlearned)
    retain, test, forget = outs["retain"].probs, outs["test"].probs, outs["forget"].probs
    expected, _, _ = reference_mia(retain, test, forget)
    assert abs(entropy_mia(retain, test, forget) - expected) <= 0.005, model
