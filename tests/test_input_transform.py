"""A model card's input transform: grey to three channels, resize, normalise (torchvision models on our data)."""

import pytest
import torch
import torch.nn.functional as F

from core.data import IMAGENET, DataError, Normalisation

CARD = {"input_shape": [3, 64, 64], "normalisation": {"mean": list(IMAGENET.mean), "std": list(IMAGENET.std)}}


def test_own_models_keep_the_plain_scaling_bit_for_bit():
    x = torch.randint(0, 256, (5, 1, 8, 8), dtype=torch.uint8)
    norm = Normalisation((0.3,), (0.4,))
    assert torch.equal(norm.apply(x), (x.float() / 255.0 - 0.3) / 0.4)


def test_grey_images_are_repeated_resized_and_normalised_as_the_card_says():
    x = torch.randint(0, 256, (7, 1, 28, 28), dtype=torch.uint8)
    t = Normalisation.from_card(CARD)
    out = t.apply(x)
    assert out.shape == (7, 3, 64, 64) and out.dtype == torch.float32
    ref = F.interpolate(x.float().div(255).expand(-1, 3, -1, -1), size=(64, 64), mode="bilinear", antialias=True)
    mean, std = torch.tensor(IMAGENET.mean).view(1, 3, 1, 1), torch.tensor(IMAGENET.std).view(1, 3, 1, 1)
    assert torch.allclose(out, (ref - mean) / std, atol=1e-6)
    assert t.describe((1, 28, 28)) == ("grey repeated to 3 channels; resized 28×28 → 64×64 (bilinear, antialiased); "
                                       "normalised with mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225)")


def test_chunks_do_not_change_the_result(monkeypatch):
    import core.data.base as base

    x = torch.randint(0, 256, (9, 3, 20, 20), dtype=torch.uint8)
    t = Normalisation.from_card(CARD)
    whole = t.apply(x)
    monkeypatch.setattr(base, "TRANSFORM_CHUNK_ELEMENTS", 1)
    assert torch.equal(t.apply(x), whole)


def test_what_cannot_be_transformed_is_refused_with_a_reason(monkeypatch):
    import core.data.base as base

    t = Normalisation.from_card(CARD)
    with pytest.raises(DataError, match="3-channel images; these have 2"):
        t.apply(torch.zeros(2, 2, 8, 8, dtype=torch.uint8))
    monkeypatch.setattr(base, "MAX_TRANSFORMED_ELEMENTS", 1000)
    with pytest.raises(DataError, match="sample budget"):
        t.apply(torch.zeros(2, 1, 8, 8, dtype=torch.uint8))
