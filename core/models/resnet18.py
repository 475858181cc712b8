"""ResNet-18, CIFAR variant: a 3×3 stem with stride 1 and no max-pool (He et al., 2016)."""

from __future__ import annotations

from torch import nn

DEFAULT_WIDTH = 64
STAGES = (2, 2, 2, 2)


class BasicBlock(nn.Module):
    """Two 3×3 conv-BN layers with an identity (or 1×1 projection) shortcut."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class ResNet18(nn.Module):
    def __init__(self, in_channels: int, num_classes: int, width: int = DEFAULT_WIDTH) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU()
        layers, cin = [], width
        for i, blocks in enumerate(STAGES):
            cout = width * 2**i
            for b in range(blocks):
                layers.append(BasicBlock(cin, cout, 2 if (b == 0 and i > 0) else 1))
                cin = cout
        self.layers = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        x = self.layers(self.relu(self.bn1(self.conv1(x))))
        return self.fc(self.pool(x).flatten(1))


def build(input_shape: tuple[int, int, int], num_classes: int, width: int = DEFAULT_WIDTH) -> nn.Module:
    return ResNet18(input_shape[0], num_classes, width)
