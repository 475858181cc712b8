"""VGG-16 with batch norm, CIFAR variant: 13 conv-BN-ReLU layers, global pooling, one linear head."""

from __future__ import annotations

from torch import nn

DEFAULT_WIDTH = 64
# Channel multipliers of the 13 conv layers ("M" = 2×2 max-pool), as in Simonyan & Zisserman's config D.
PLAN = (1, 1, "M", 2, 2, "M", 4, 4, 4, "M", 8, 8, 8, "M", 8, 8, 8, "M")


def build(input_shape: tuple[int, int, int], num_classes: int, width: int = DEFAULT_WIDTH) -> nn.Module:
    """Pools are skipped once the feature map is 1×1, so small inputs (8×8) work too."""
    c, h, _ = input_shape
    layers: list[nn.Module] = []
    side = h
    for v in PLAN:
        if v == "M":
            if side >= 2:
                layers.append(nn.MaxPool2d(2))
                side //= 2
            continue
        layers += [nn.Conv2d(c, width * v, 3, padding=1), nn.BatchNorm2d(width * v), nn.ReLU()]
        c = width * v
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, num_classes)]
    return nn.Sequential(*layers)
