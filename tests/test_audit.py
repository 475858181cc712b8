"""The gold-free audit on constructed cases with a known answer: a model that memorised Df (trained on it,
the held-out reference never seen) fails it; one that never saw Df (trained without it) passes it."""

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from core.audit import AuditTolerances, Auditor, Reference, choose_reference

K, DIM = 4, 20


def blobs(n, seed, noise=3.0):
    """Overlapping Gaussian classes: a small net can memorise a training set of them but not generalise
    perfectly, so having seen an image shows in the loss."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % K
    centres = torch.randn(K, DIM, generator=torch.Generator().manual_seed(99))
    return TensorDataset(centres[y] + noise * torch.randn(n, DIM, generator=g), y)


def net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(DIM, 128), nn.ReLU(), nn.Linear(128, K))


def fit(model, data, steps=400):
    """Full-batch Adam until the training set is memorised (a few hundred steps of a tiny net: about a second)."""
    x, y = data.tensors
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return model.eval()


def test_reference_sets_follow_the_forget_kind():
    y_test = np.repeat(np.arange(4), 25)
    ref = choose_reference("classes", (1, 3), np.array([1, 3]), y_test)
    assert set(y_test[ref.ref]) == {1, 3} and len(ref.ref) == 50 and set(y_test[ref.rest]) == {0, 2}
    mix = choose_reference("random", (), np.array([0] * 30 + [1] * 10), y_test, seed=1)
    counts = np.bincount(y_test[mix.ref], minlength=4)
    assert abs(counts[0] - 3 * counts[1]) <= 1 and counts[2] == counts[3] == 0 and len(mix.ref) <= 50
    a, b = ref.halves(y_test, seed=0)
    assert not set(a.ref) & set(b.ref) and abs(len(a.ref) - len(b.ref)) <= 2 and a.half == "A"


@pytest.fixture(scope="module")
def cases():
    retain, forget, test = blobs(300, 1), blobs(150, 2), blobs(400, 3)
    memorised = fit(net(), TensorDataset(*(torch.cat(t) for t in zip(retain.tensors, forget.tensors))))
    never = fit(net(), retain)
    forget_labels = forget.tensors[1].numpy()
    reference = choose_reference("random", (), forget_labels, test.tensors[1].numpy())
    return retain, forget, test, reference, memorised, never


def auditor(case, original):
    retain, forget, test, reference, _, _ = case
    return Auditor(forget, retain, test, reference, original, "random")


def test_a_model_that_memorised_the_forget_set_fails_the_private_check(cases):
    memorised = cases[4]
    a = auditor(cases, memorised)(memorised, resamples=500)
    private = next(c for c in a.checks if c.name == "private")
    assert a.figures["loss_auc"].low > 0.55, a.figures["loss_auc"]  # the loss attack tells Df from unseen data
    assert private.passed is False


def test_a_model_that_never_saw_the_forget_set_passes_what_its_samples_can_settle(cases):
    memorised, never = cases[4], cases[5]
    a = auditor(cases, memorised)(never, resamples=500)
    checks = {c.name: c for c in a.checks}
    assert a.figures["loss_auc"].low < 0.5 < a.figures["loss_auc"].high  # indistinguishable from unseen data
    assert checks["forgotten"].passed is not False and checks["private"].passed is not False


def test_class_forgetting_needs_the_class_unrecognised_and_uncertain():
    retain, test = blobs(400, 4, noise=1.0), blobs(400, 5, noise=1.0)
    keep = retain.tensors[1] != 0
    forget = TensorDataset(retain.tensors[0][~keep], retain.tensors[1][~keep])
    dr = TensorDataset(retain.tensors[0][keep], retain.tensors[1][keep])
    original = fit(net(), retain, steps=150)
    retrained = fit(net(), dr, steps=150)
    reference = choose_reference("classes", (0,), forget.tensors[1].numpy(), test.tensors[1].numpy())
    aud = Auditor(forget, dr, test, reference, original, "classes", tol=AuditTolerances(uncertain=0.5))
    before = {c.name: c.passed for c in aud(original).checks}
    after = {c.name: c.passed for c in aud(retrained).checks}
    assert before["forgotten"] is False  # the original recognises its class, seen or unseen: not forgotten
    assert after["forgotten"] is True and after["kept"] is not False


def test_reference_halves_are_what_a_tuned_run_reports_on():
    y = np.repeat(np.arange(3), 10)
    ref = Reference("classes", np.flatnonzero(y == 0), np.flatnonzero(y != 0))
    a, b = ref.halves(y, seed=0)
    assert b.describe()["half"] == "B" and b.describe()["size"] == 5
