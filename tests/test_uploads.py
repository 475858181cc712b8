"""Uploading a torchvision checkpoint: the form says how its inputs were prepared, and the card records it."""

import pytest
import torch
from safetensors.torch import save

from core.cards import IMAGENET_SIZE, card_for
from core.data import IMAGENET
from core.models import build_model
from core.uploads import UploadError, display_name, save_checkpoint_upload


def test_a_torchvision_upload_records_imagenet_inputs_at_the_size_given(digits):
    torch.manual_seed(0)
    model = build_model("torchvision.mobilenet_v3_small", (3, 32, 32), 10)
    data = save({k: v.contiguous() for k, v in model.state_dict().items()})
    path, card = save_checkpoint_upload(data, "mine.safetensors", "torchvision.mobilenet_v3_small", digits,
                                        preset="imagenet", size=32)
    assert card["input_shape"] == [3, 32, 32] and card["normalisation"]["mean"] == list(IMAGENET.mean)
    assert display_name(path) == "mine.safetensors (uploaded)"
    # claimed with the grey dataset's own statistics, a torchvision model is refused with the reason; the first stays
    with pytest.raises(UploadError, match="takes 3-channel images"):
        save_checkpoint_upload(data, "mine.safetensors", "torchvision.mobilenet_v3_small", digits, preset="dataset")
    assert path.is_file()


def test_the_default_preset_follows_the_architecture(digits):
    assert card_for("torchvision.resnet18", digits)["input_shape"] == [3, *IMAGENET_SIZE]
    assert card_for("cnn_small", digits)["input_shape"] == [1, 8, 8]
