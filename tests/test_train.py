import json

import torch

from core import paths
from core.checkpoint import sha256_file
from core.evaluate import accuracy
from core.models import build_model
from core.train import TrainConfig, train
from core.predict import evaluate_checkpoint



def _train(digits, seed):
    torch.manual_seed(seed)
    model = build_model("cnn_small", digits.input_shape, digits.num_classes)
    cfg = TrainConfig(epochs=3, seed=seed).resolved(digits.recipe)
    hist = train(model, digits.tensors("train"), cfg, device=torch.device("cpu"))
    return model, hist


def test_training_is_deterministic_under_a_seed_and_learns(digits):
    a, ha = _train(digits, 0)
    b, hb = _train(digits, 0)
    assert ha["epoch_losses"] == hb["epoch_losses"]
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert ha["epoch_losses"][-1] < ha["epoch_losses"][0] and accuracy(a, digits.tensors("test")) > 0.85


def test_recipe_fills_what_the_config_leaves_empty(digits):
    cfg = TrainConfig(epochs=5).resolved(digits.recipe)
    assert cfg.epochs == 5 and cfg.milestones == digits.recipe.milestones and cfg.lr_decay == digits.recipe.lr_decay


def test_shipped_checkpoint_reaches_97_percent_and_matches_its_card(shipped):
    card = json.loads(shipped.with_suffix(".json").read_text())
    assert card["sha256"] == sha256_file(shipped)
    result = evaluate_checkpoint(shipped, device="cpu")
    assert result["acc_test"] >= 0.97
    assert abs(result["acc_test"] - card["accuracy"]["test"]) < 1e-9
