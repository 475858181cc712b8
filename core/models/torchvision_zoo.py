"""Every torchvision classification model by name (`torchvision.resnet50`, ...), built with `weights=None`.

Nothing is downloaded: the user's own state dict brings the weights. The models expect 3-channel input
(grey datasets are repeated to three channels by the card's input transform, `core/data/transform.py`).
"""

from __future__ import annotations

import functools
from typing import Callable

import torchvision
from torch import nn

PREFIX = "torchvision."
# Models whose builder needs the input side (ViT's position embeddings are sized by it).
_SIZED = ("vit_",)
# Auxiliary classifiers are training-time heads; the registry builds these models without them (their keys
# in a checkpoint are ignored on load, `AUX_KEY_PREFIXES`), so a forward returns plain logits.
_NO_AUX = {"googlenet": ("aux1.", "aux2."), "inception_v3": ("AuxLogits.",)}
AUX_KEY_PREFIXES = {PREFIX + k: v for k, v in _NO_AUX.items()}


def names() -> list[str]:
    """torchvision's classification models (not detection, segmentation, video or quantized ones)."""
    return sorted(torchvision.models.list_models(module=torchvision.models))


def build(name: str, input_shape: tuple[int, int, int], num_classes: int, **kwargs) -> nn.Module:
    c, h, w = input_shape
    if c != 3:
        raise ValueError(f"torchvision's {name} takes 3-channel images; got {c} channel(s) (a grey dataset is "
                         f"repeated to three channels when the model card's input shape says 3)")
    extra: dict = {}
    if name.startswith(_SIZED):
        if h != w:
            raise ValueError(f"torchvision's {name} takes square images; got {h}×{w}")
        extra["image_size"] = h
    if name in _NO_AUX:
        extra.update(aux_logits=False, init_weights=False)
    return torchvision.models.get_model(name, weights=None, num_classes=num_classes, **{**extra, **kwargs})


def builders() -> dict[str, Callable[..., nn.Module]]:
    return {PREFIX + n: functools.partial(build, n) for n in names()}
