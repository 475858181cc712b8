"""The small ViT of our own: DeepClean end to end (checkpoint → Fisher → reset → fine-tune → gold → verdict)."""

import torch

from core import config
from core.checkpoint import save_checkpoint
from core.forget import ForgetSpec
from core.models import build_model
from core.store import RunStore
from core.train import TrainConfig, train
from core.unlearn import run_unlearn

# A narrower, shallower vit_mini and a short recipe keep the test (training, gold retraining, DeepClean) ~10 s.
KWARGS = {"dim": 32, "depth": 2, "heads": 2, "mlp": 64}
RECIPE = TrainConfig(lr=0.02, epochs=15, milestones=(11,))  # ~88% test accuracy in ~2 s


def test_deepclean_runs_end_to_end_on_the_small_vit(tmp_path, digits):
    norm = digits.normalisation()
    card = {"architecture": "vit_mini", "model_kwargs": KWARGS, "dataset": "digits", "num_classes": 10,
            "classes": digits.classes, "input_shape": list(digits.input_shape),
            "normalisation": {"mean": list(norm.mean), "std": list(norm.std)}, "recipe": config.to_dict(RECIPE),
            "seed": 0}
    torch.manual_seed(0)
    model = build_model("vit_mini", digits.input_shape, 10, **KWARGS)
    train(model, digits.tensors("train", norm=norm), RECIPE.resolved(digits.recipe), device=torch.device("cpu"))
    save_checkpoint(model, card, tmp_path / "vit")

    r = run_unlearn(tmp_path / "vit.safetensors", ForgetSpec.of_classes([0]), "deepclean",
                    store=RunStore(tmp_path / "home"), device="cpu").to_dict()
    original, unlearned = r["models"]["original"], r["models"]["unlearned"]
    assert original["acc_forget"] > 0.8 and original["acc_test"] > 0.6
    assert 0 < r["weights_reset_fraction"] < 0.5
    assert unlearned["acc_forget"] < original["acc_forget"] - 0.3
    per_layer = r["per_layer"]
    assert any("attention.in_proj_weight" in k for k in per_layer) and any("class_token" in k for k in per_layer)
