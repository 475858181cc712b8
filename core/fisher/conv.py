"""nn.Conv2d, any groups (depthwise included), stride, dilation, padding mode.

The per-sample weight gradient ∇W_i is the correlation of the sample's output gradient with its input.
Four ways to form Σ_i (∇W_i)², chosen per call by shape (measured on the 2-core CPU, batch 64 and 128):

- dense convs (groups 1) on 1×1 and 2×2 maps (squeeze-excitation, VGG's last stage) where `use_gram`
  says so: `gram_sq_sum` on the unfolded input, with no per-sample tensor at all (grouped and
  depthwise weights are small per sample, so their per-sample blocks are cheap anyway);
- a weight small next to its feature map (and every depthwise conv on maps larger than 2×2): the
  convolution's own weight-gradient kernel with the batch folded into the groups;
- grouped convs on 1×1 and 2×2 maps: broadcast products of the gradient and the unfolded input;
- otherwise (large weights on small maps): unfold + one matmul per sample. On the CPU, for dense convs,
  `mm_sq_sum_` squares each product into the accumulator a cached row tile at a time, with no per-sample
  tensor; elsewhere (grouped weights, GPUs, where a Python loop over samples would be launch-bound) the
  per-sample blocks are formed in cache-sized chunks and squared afterwards.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import registry
from .registry import Call, Rule, chunks, gram_sq_sum, mm_sq_sum_, register, sq_sum

# Largest per-sample block (elements) the unfold path forms at once: about an L2 cache (4 MiB of float32).
# Squaring and summing a block while it is still cached was ~3× faster than larger blocks on the CPU bench.
UNFOLD_CHUNK_ELEMENTS = 1 << 20
# The grouped weight-gradient kernel serves a call when its per-sample weight gradient (O·C/G·k² entries)
# is small next to its output positions: at most this many entries per position. Measured (batch 64 and
# 128): grouped is 1.5–4× faster than unfold from 1 to 576 entries per position (ResNet-18's first three
# stages, 1×1 projections), unfold + matmul 1.8–10× faster from 1,152 up (stride-2 and 4×4 stages).
GROUPED_MAX_RATIO = 768
# Unfolded input columns (elements) `_unfolded_sq_sum_` forms at once: 4 MiB of float32, 14 samples of a
# 512-channel 3×3 conv on a 4×4 map. Measured (batch 128): 4 MiB and 16 MiB within noise of each other.
COLS_CHUNK_ELEMENTS = 1 << 20
# Grouped and depthwise convs on maps of at most this many positions (2×2) form per-sample gradients by
# broadcast products instead (`_grouped_small_map`).
GROUPED_SMALL_MAP = 4


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


def _unfolded_sq_sum_(m: nn.Conv2d, a: torch.Tensor, g: torch.Tensor, padding: tuple[int, int],
                      weight: torch.Tensor) -> None:
    """weight += Σ_b (g_b · unfold(a_b)ᵀ)² for a dense conv, without any per-sample weight tensor."""
    g3 = g.flatten(2)  # b×O×L
    acc = weight.view(m.out_channels, -1)  # O×(C·k·k)
    for lo, hi in chunks(len(g), acc.shape[1] * g3.shape[2], COLS_CHUNK_ELEMENTS):
        cols = F.unfold(a[lo:hi], m.kernel_size, dilation=m.dilation, padding=padding, stride=m.stride)
        mm_sq_sum_(acc, g3[lo:hi], cols.transpose(1, 2))


def _grouped_small_map(m: nn.Conv2d, a: torch.Tensor, g: torch.Tensor, padding: tuple[int, int]) -> torch.Tensor:
    """b×O×(C/G)×kh×kw for a grouped conv on a map of a few positions: broadcast products summed over them.

    On 1×1 maps (MobileNet's last stages at 32×32 input) the grouped kernel took 82 ms per call for a 5×5
    depthwise conv, padding included, against a few ms here."""
    b, o, gr = g.shape[0], g.shape[1], m.groups
    cols = F.unfold(a, m.kernel_size, dilation=m.dilation, padding=padding, stride=m.stride)  # b×(C·k·k)×L
    length = cols.shape[-1]
    per = (g.reshape(b, gr, o // gr, 1, length) * cols.view(b, gr, 1, -1, length)).sum(-1)
    return per.view(b, *m.weight.shape)


def _path(m: nn.Conv2d, g: torch.Tensor):
    """The per-sample weight-gradient kernel for this call's shapes, and its chunk budget (elements).

    Depthwise convs always take the grouped kernel: 1.1–15× faster than unfold (and than a loop over the
    kernel offsets) on MobileNet's and ConvNeXt's shapes."""
    positions = g.shape[2] * g.shape[3]
    if m.groups > 1 and positions <= GROUPED_SMALL_MAP:
        return _grouped_small_map, registry.CHUNK_ELEMENTS // GROUPED_SMALL_MAP  # its products hold L× a block
    if m.in_channels == m.groups or m.weight.numel() <= GROUPED_MAX_RATIO * positions:
        return _grouped_kernel, None
    return _unfolded, UNFOLD_CHUNK_ELEMENTS


def _weight_sq_sum(m: nn.Conv2d, a: torch.Tensor, g: torch.Tensor, padding: tuple[int, int]) -> torch.Tensor:
    """Σ_b (∇W_b)² by the cheapest exact formulation for this call's shapes (see the module docstring)."""
    weight = torch.zeros_like(m.weight, dtype=g.dtype)
    positions = g.shape[2] * g.shape[3]
    if m.groups == 1 and registry.use_gram(positions, m.weight.numel()):
        for lo, hi in chunks(len(g), (m.out_channels + m.weight[0].numel()) * positions ** 2):
            cols = F.unfold(a[lo:hi], m.kernel_size, dilation=m.dilation, padding=padding, stride=m.stride)
            weight += gram_sq_sum(g[lo:hi].flatten(2), cols).view_as(weight)
        return weight
    kernel, budget = _path(m, g)
    if kernel is _unfolded and m.groups == 1 and g.device.type == "cpu":
        _unfolded_sq_sum_(m, a, g, padding, weight)
        return weight
    for lo, hi in chunks(len(g), m.weight.numel(), budget):
        weight += sq_sum(kernel(m, a[lo:hi], g[lo:hi], padding))
    return weight


@register(nn.Conv2d)
class Conv2dRule(Rule):
    def sq_sum(self, m: nn.Conv2d, call: Call, names: list[str]) -> dict[str, torch.Tensor]:
        a, padding = _prepared_input(m, call.input)
        g = call.grad
        out: dict[str, torch.Tensor] = {}
        if "weight" in names:
            out["weight"] = _weight_sq_sum(m, a, g, padding)
        if "bias" in names:
            out["bias"] = sq_sum(g.sum((2, 3)))
        return out

    def per_sample(self, m: nn.Conv2d, call: Call, names: list[str], lo: int, hi: int) -> dict[str, torch.Tensor]:
        a, padding = _prepared_input(m, call.input[lo:hi])
        g = call.grad[lo:hi]
        out = {}
        if "weight" in names:
            out["weight"] = _path(m, g)[0](m, a, g, padding)
        if "bias" in names:
            out["bias"] = g.sum((2, 3))
        return out
