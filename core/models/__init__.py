"""The model registry: a name maps to a builder `build(input_shape, num_classes, **kwargs)`.

Our own architectures (`cnn_small`, a CIFAR-stem `resnet18`, `vgg16_bn`, the small ViT `vit_mini`) and every
torchvision classification model as `torchvision.NAME` (`torchvision.resnet50`, `torchvision.vit_b_16`, ...).
"""

from __future__ import annotations

from typing import Callable

from torch import nn

from . import cnn_small, resnet18, vgg16_bn, vit_mini, torchvision_zoo

OWN: dict[str, Callable[..., nn.Module]] = {
    "cnn_small": cnn_small.build,
    "resnet18": resnet18.build,
    "vgg16_bn": vgg16_bn.build,
    "vit_mini": vit_mini.build,
}
MODELS: dict[str, Callable[..., nn.Module]] = {**OWN, **torchvision_zoo.builders()}
TORCHVISION_PREFIX = torchvision_zoo.PREFIX


def build_model(name: str, input_shape, num_classes: int, **kwargs) -> nn.Module:
    """Build a registered architecture for the given input shape (C, H, W) and class count."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(OWN)} or torchvision.NAME "
                         f"(NAME one of torchvision's classification models, e.g. torchvision.resnet50)")
    return MODELS[name](tuple(input_shape), int(num_classes), **kwargs)
