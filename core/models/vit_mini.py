"""A small Vision Transformer of our own for 8×8 to 32×32 images, grey or colour (Dosovitskiy et al., 2021).

Patches of 4×4 (2×2 below 16 pixels a side) are embedded by a strided convolution, a class token and
learned position embeddings are added, and a few pre-norm blocks of nn.MultiheadAttention and a GELU MLP
follow, as in torchvision's ViT-B/16 but about 100,000 parameters: ViTs run on CPU in tests and benches.
"""

from __future__ import annotations

import torch
from torch import nn

DIM = 64
DEPTH = 4
HEADS = 4
MLP = 128
PATCH = 4
SMALL_PATCH = 2  # below SMALL_SIDE pixels a side, so that 8×8 digits still make 16 tokens
SMALL_SIDE = 16


class Block(nn.Module):
    """x + attention(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, dim: int, heads: int, mlp: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim)
        self.attention = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.ln_2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp), nn.GELU(), nn.Linear(mlp, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.ln_1(x)
        x = x + self.attention(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class ViTMini(nn.Module):
    def __init__(self, input_shape: tuple[int, int, int], num_classes: int, *, dim: int, depth: int,
                 heads: int, mlp: int, patch: int) -> None:
        super().__init__()
        c, h, w = input_shape
        self.patch = nn.Conv2d(c, dim, patch, stride=patch)
        tokens = (h // patch) * (w // patch)
        self.class_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embedding = nn.Parameter(torch.randn(1, tokens + 1, dim) * 0.02)
        self.blocks = nn.Sequential(*(Block(dim, heads, mlp) for _ in range(depth)))
        self.ln = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch(x).flatten(2).transpose(1, 2)  # (B, tokens, dim)
        x = torch.cat([self.class_token.expand(len(x), -1, -1), x], dim=1) + self.pos_embedding
        return self.head(self.ln(self.blocks(x))[:, 0])


def build(input_shape: tuple[int, int, int], num_classes: int, dim: int = DIM, depth: int = DEPTH, heads: int = HEADS,
          mlp: int = MLP, patch: int | None = None) -> nn.Module:
    """Image sides must be divisible by the patch size (4, or 2 for sides below 16)."""
    _, h, w = input_shape
    patch = patch or (PATCH if min(h, w) >= SMALL_SIDE else SMALL_PATCH)
    if h % patch or w % patch:
        raise ValueError(f"vit_mini needs image sides divisible by its patch size {patch}; got {h}×{w}")
    return ViTMini(input_shape, num_classes, dim=dim, depth=depth, heads=heads, mlp=mlp, patch=patch)
