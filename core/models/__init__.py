"""The model registry: a name maps to a builder `build(input_shape, num_classes, **kwargs)`."""

from __future__ import annotations

from typing import Callable

from torch import nn

from . import cnn_small, resnet18, vgg16_bn

MODELS: dict[str, Callable[..., nn.Module]] = {
    "cnn_small": cnn_small.build,
    "resnet18": resnet18.build,
    "vgg16_bn": vgg16_bn.build,
}


def build_model(name: str, input_shape, num_classes: int, **kwargs) -> nn.Module:
    """Build a registered architecture for the given input shape (C, H, W) and class count."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}")
    return MODELS[name](tuple(input_shape), int(num_classes), **kwargs)
