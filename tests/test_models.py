import pytest
import torch
import torchvision

from core.models import MODELS, OWN, build_model


@pytest.mark.parametrize("name", list(OWN))
@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32)])
def test_every_model_of_ours_takes_the_dataset_shape_and_class_count(name, shape):
    model = build_model(name, shape, 7, width=4) if name in ("resnet18", "vgg16_bn") else build_model(name, shape, 7)
    assert model(torch.zeros(2, *shape)).shape == (2, 7)


def test_every_torchvision_classifier_is_served_by_name():
    expected = {f"torchvision.{n}" for n in torchvision.models.list_models(module=torchvision.models)}
    assert expected <= set(MODELS) and "torchvision.vit_b_16" in expected and "torchvision.convnext_tiny" in expected


@pytest.mark.parametrize("name,side", [("torchvision.resnet18", 32), ("torchvision.mobilenet_v3_small", 32),
                                       ("torchvision.vit_b_16", 32), ("torchvision.googlenet", 64)])
def test_torchvision_models_are_built_without_weights_for_the_card(name, side):
    model = build_model(name, (3, side, side), 7).train()
    out = model(torch.zeros(2, 3, side, side))
    assert isinstance(out, torch.Tensor) and out.shape == (2, 7)  # no auxiliary heads, even in train mode


def test_torchvision_models_refuse_grey_input_with_a_reason():
    with pytest.raises(ValueError, match="3-channel"):
        build_model("torchvision.resnet18", (1, 28, 28), 10)


def test_unknown_model_lists_choices():
    with pytest.raises(ValueError, match="cnn_small.*torchvision.NAME"):
        build_model("alexnet", (1, 8, 8), 10)


def test_no_inplace_activations_in_our_models():
    for name in OWN:
        m = build_model(name, (1, 8, 8), 3)
        assert not any(getattr(mod, "inplace", False) for mod in m.modules())


def test_vit_mini_is_small_and_patches_by_side():
    grey = build_model("vit_mini", (1, 8, 8), 10)
    colour = build_model("vit_mini", (3, 32, 32), 10)
    assert grey.patch.kernel_size == (2, 2) and colour.patch.kernel_size == (4, 4)
    assert sum(p.numel() for p in colour.parameters()) < 200_000
    with pytest.raises(ValueError, match="divisible"):
        build_model("vit_mini", (1, 30, 30), 10)
