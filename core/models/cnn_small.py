"""A small two-block CNN for grey 8×8 (digits) and 28×28 (MNIST) images."""

from __future__ import annotations

from torch import nn

DEFAULT_WIDTH = 32
HIDDEN = 128


def build(input_shape: tuple[int, int, int], num_classes: int, width: int = DEFAULT_WIDTH) -> nn.Module:
    """conv-relu-pool ×2, then a 2-layer classifier; sides must be divisible by 4."""
    c, h, w = input_shape
    if h % 4 or w % 4:
        raise ValueError(f"cnn_small needs image sides divisible by 4; got {h}×{w}")
    return nn.Sequential(
        nn.Conv2d(c, width, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(width, 2 * width, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(2 * width * (h // 4) * (w // 4), HIDDEN),
        nn.ReLU(),
        nn.Linear(HIDDEN, num_classes),
    )
