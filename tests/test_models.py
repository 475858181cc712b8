import pytest
import torch

from core.models import MODELS, build_model


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32)])
def test_every_model_takes_the_dataset_shape_and_class_count(name, shape):
    model = build_model(name, shape, 7, width=4) if name != "cnn_small" else build_model(name, shape, 7)
    assert model(torch.zeros(2, *shape)).shape == (2, 7)


def test_unknown_model_lists_choices():
    with pytest.raises(ValueError, match="cnn_small"):
        build_model("alexnet", (1, 8, 8), 10)


def test_no_inplace_activations_so_per_sample_hooks_see_true_outputs():
    for name in MODELS:
        m = build_model(name, (1, 8, 8), 3)
        assert not any(getattr(mod, "inplace", False) for mod in m.modules())
