"""nn.Conv2d, any groups (depthwise included), stride, dilation, padding mode.

The per-sample weight gradient ∇W_i is the correlation of the sample's output gradient with its input.
Four ways to form it, chosen per call by shape (measured on the 2-core CPU bench, `bench/fisher.py`):

- one output position (1×1 maps, squeeze-excitation): Σ_i (∇W_i)² = (g²)ᵀ(cols²) like a Linear layer,
  with no per-sample tensor at all;
- large feature maps: the convolution's own weight-gradient kernel with the batch folded into the groups;
- depthwise (one input channel per group): a loop over the k×k kernel offsets, each a strided slice of
  the input times the output gradient, summed over positions (k² passes over the activations);
- otherwise: unfold + one matmul per sample, in cache-sized chunks.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .registry import Call, Rule, chunks, register, sq_sum

# Largest per-sample block (elements) the unfold path forms at once: about an L2 cache (4 MiB of float32).
# Squaring and summing a block while it is still cached was ~3× faster than larger blocks on the CPU bench.
UNFOLD_CHUNK_ELEMENTS = 1 << 20
# The grouped weight-gradient kernel serves a call when its per-sample weight gradient (O·C/G·k² entries)
# is small next to its output positions: at most this many entries per position. Measured on CPU (batch 64):
# grouped wins at 36 to 576 entries per position (25–30% at 288 and 576, ResNet-18's second stage), unfold
# + matmul at 4,608 and above.
GROUPED_MAX_RATIO = 1024
# ... and only on feature maps of at least this many positions: on tiny maps unfold + matmul is already
# cheap, and the grouped kernel's set-up for each new batch shape would dominate.
GROUPED_MIN_POSITIONS = 144


def _prepared_input(m: nn.Conv2d, a: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
    """The input as the convolution sees it, with the zero padding that remains to apply.

    String padding ('same', possibly asymmetric) and non-zero padding modes are applied explicitly, as
    nn.Conv2d does for the latter.
    """
    if m.padding_mode == "zeros" and not isinstance(m.padding, str):
        return a, tuple(m.padding)
    mode = "constant" if m.padding_mode == "zeros" else m.padding_mode
    return F.pad(a, m._reversed_padding_repeated_twice, mode=mode), (0, 0)


def _grouped_kernel(m: nn.Conv2d, a: torch.Tensor, g: torch.Tensor, padding: tuple[int, int]) -> torch.Tensor:
    """b×O×(C/G)×kh×kw: the weight-gradient kernel of one convolution with b·G groups."""
    b, c = a.shape[:2]
    o = g.shape[1]
    weight = torch.empty(b * o, c // m.groups, *m.kernel_size, dtype=g.dtype, device=g.device)
    per_sample = torch.ops.aten.convolution_backward(
        g.reshape(1, b * o, *g.shape[2:]), a.reshape(1, b * c, *a.shape[2:]), weight, None,
        m.stride, padding, m.dilation, False, (0, 0), b * m.groups, (False, True, False))[1]
    return per_sample.view(b, *m.weight.shape)


def _unfolded(m: nn.Conv2d, a: torch.Tensor, g: torch.Tensor, padding: tuple[int, int]) -> torch.Tensor:
    """b×O×(C/G)×kh×kw: g_i · unfold(a_i)ᵀ per sample and group, as one batched matmul."""
    b, o, gr = g.shape[0], g.shape[1], m.groups
    cols = F.unfold(a, m.kernel_size, dilation=m.dilation, padding=padding, stride=m.stride)  # b×(C·k·k)×L
    cols = cols.view(b * gr, -1, cols.shape[-1])
    g3 = g.reshape(b * gr, o // gr, -1)
    return torch.bmm(g3, cols.transpose(1, 2)).view(b, *m.weight.shape)


def _depthwise(m: nn.Conv2d, a: torch.Tensor, g: torch.Tensor, padding: tuple[int, int]) -> torch.Tensor:
    """b×O×1×kh×kw for a conv with one input channel per group: one strided slice per kernel offset."""
    (kh, kw), (sh, sw), (dh, dw) = m.kernel_size, m.stride, m.dilation
    a = F.pad(a, (padding[1], padding[1], padding[0], padding[0])) if any(padding) else a
    b, c = a.shape[:2]
    h, w = g.shape[2:]
    g5 = g.reshape(b, c, -1, h, w)  # b×C×mult×h×w: output channel o reads input channel o // mult
    out = torch.empty(b, c, g5.shape[2], kh, kw, dtype=g.dtype, device=g.device)
    for y in range(kh):
        for x in range(kw):
            window = a[:, :, y * dh: y * dh + sh * (h - 1) + 1: sh, x * dw: x * dw + sw * (w - 1) + 1: sw]
            out[..., y, x] = torch.einsum("bcmhw,bchw->bcm", g5, window)
    return out.view(b, *m.weight.shape)


def _path(m: nn.Conv2d, g: torch.Tensor):
    """The per-sample weight-gradient kernel for this call's shapes, and its chunk budget (elements)."""
    positions = g.shape[2] * g.shape[3]
    if m.in_channels == m.groups:
        return _depthwise, None
    if positions >= GROUPED_MIN_POSITIONS and m.weight.numel() <= GROUPED_MAX_RATIO * positions:
        return _grouped_kernel, None
    return _unfolded, UNFOLD_CHUNK_ELEMENTS


@register(nn.Conv2d)
class Conv2dRule(Rule):
    def sq_sum(self, m: nn.Conv2d, call: Call, names: list[str]) -> dict[str, torch.Tensor]:
        a, padding = _prepared_input(m, call.input)
        g = call.grad
        out: dict[str, torch.Tensor] = {}
        if "weight" in names:
            if g.shape[2] * g.shape[3] == 1 and m.in_channels != m.groups:
                out["weight"] = self._one_position(m, a, g, padding)
            else:
                kernel, budget = _path(m, g)
                weight = torch.zeros_like(m.weight, dtype=g.dtype)
                for lo, hi in chunks(len(g), m.weight.numel(), budget):
                    weight += sq_sum(kernel(m, a[lo:hi], g[lo:hi], padding))
                out["weight"] = weight
        if "bias" in names:
            out["bias"] = sq_sum(g.sum((2, 3)))
        return out

    @staticmethod
    def _one_position(m: nn.Conv2d, a: torch.Tensor, g: torch.Tensor, padding: tuple[int, int]) -> torch.Tensor:
        """Σ_i (∇W_i)² when the output is 1×1: per group (g²)ᵀ(cols²), as for a Linear layer."""
        b, gr = g.shape[0], m.groups
        cols = F.unfold(a, m.kernel_size, dilation=m.dilation, padding=padding, stride=m.stride)  # b×(C·k·k)×1
        cols2 = cols.view(b, gr, -1).pow(2).transpose(0, 1)  # G×b×(C/G·k·k)
        g2 = g.reshape(b, gr, -1).pow(2).permute(1, 2, 0)  # G×(O/G)×b
        return torch.bmm(g2, cols2).view_as(m.weight)

    def per_sample(self, m: nn.Conv2d, call: Call, names: list[str], lo: int, hi: int) -> dict[str, torch.Tensor]:
        a, padding = _prepared_input(m, call.input[lo:hi])
        g = call.grad[lo:hi]
        out = {}
        if "weight" in names:
            out["weight"] = _path(m, g)[0](m, a, g, padding)
        if "bias" in names:
            out["bias"] = g.sum((2, 3))
        return out
