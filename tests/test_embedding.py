"""The embedding view: penultimate features are the output layer's input, and the map is sklearn's PCA of them."""

import numpy as np
import torch
from sklearn.decomposition import PCA
from torch import nn
from torch.utils.data import TensorDataset

from core.attack_view import attack_frame
from core.embedding import embedding_frame
from core.inside import RunModels, penultimate
from core.mia import EntropyAttack
from core.evaluate import outputs


def tiny():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3))


def test_penultimate_features_are_the_truncated_forward_pass():
    m, x = tiny(), torch.randn(7, 1, 2, 2)
    by_hand = m[2](m[1](m[0](x))).detach().double().numpy()
    assert np.allclose(penultimate(m, x), by_hand)


def run_models(models):
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(30, 1, 2, 2, generator=g), torch.randint(0, 3, (30,), generator=g)
    return RunModels(models, TensorDataset(x[:10], y[:10]), TensorDataset(x[10:20], y[10:20]),
                     TensorDataset(x[20:], y[20:]), ["a", "b", "c"], np.arange(10), {})


def test_the_map_is_pca_of_the_features_on_the_original_models_axes():
    original, unlearned = tiny(), tiny()
    with torch.no_grad():
        unlearned[3].weight.mul_(0.5)
    run = run_models({"original": original, "unlearned": unlearned})
    frame = embedding_frame(run)
    x = torch.cat([run.forget.tensors[0], run.test.tensors[0]])
    f = penultimate(original, x)
    pca = PCA(n_components=2, random_state=0).fit(f)
    got = frame[frame["model"] == "original"][["x", "y"]].to_numpy()
    assert np.allclose(got, pca.transform(f))
    same_axes = frame[frame["model"] == "unlearned"][["x", "y"]].to_numpy()
    assert np.allclose(same_axes, pca.transform(penultimate(unlearned, x)))
    assert list(frame["set"][:10]) == ["forgotten"] * 10 and set(frame["class"]) <= {"a", "b", "c"}


def test_the_attack_view_ranks_forgotten_images_by_the_attackers_confidence():
    run = run_models({"original": tiny(), "unlearned": tiny()})
    frame = attack_frame(run.models, run.retain, run.test, run.forget, run.forget_indices)
    assert list(frame["unlearned"]) == sorted(frame["unlearned"], reverse=True)
    assert frame[["original", "unlearned"]].to_numpy().min() >= 0 and frame[["original", "unlearned"]].to_numpy().max() <= 1
    # a score above one half is exactly what the product's attacker calls a member
    m = run.models["unlearned"]
    attack = EntropyAttack.fit(outputs(m, run.retain).probs, outputs(m, run.test).probs)
    members = attack.is_member(outputs(m, run.forget).probs)
    by_index = dict(zip(frame["index"], frame["unlearned"] > 0.5))
    assert [by_index[i] for i in run.forget_indices] == [bool(v) for v in members]
