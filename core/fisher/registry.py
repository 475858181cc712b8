"""Per-sample gradient rules, looked up by layer type (modules) or by function (direct parameters).

Adding a layer type is one file with `@register(LayerType)` on a `Rule` subclass; the engine never
names a layer. A rule turns one call of its module (inputs captured in the forward pass, gradient of
the output from the backward pass) into the per-sample gradients of the parameters it covers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import torch
from torch import nn

# Largest per-sample gradient block (elements) a rule forms at once: 64 MiB of float32. Memory then
# depends on the batch and this bound, never on the model's size (ViT-B/16's MLP weight is 2.4 M entries
# per sample: a chunk of 28 samples at most).
CHUNK_ELEMENTS = 1 << 24


@dataclass(eq=False)
class Call:
    """One call of a module (or of a function on a direct parameter) in the forward pass.

    `args`/`kwargs` are the call's inputs (detached), `out` its first tensor output and `grads` the
    gradients of the summed objective with respect to each tensor output, filled in during backward.
    `batch` is the number of samples; every per-sample tensor has it as its leading dimension.
    """

    module: nn.Module | None
    args: tuple
    kwargs: dict
    batch: int
    grads: list[torch.Tensor | None] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def grad(self) -> torch.Tensor | None:
        return self.grads[0] if self.grads else None

    @property
    def input(self) -> torch.Tensor:
        return self.args[0]


class Rule:
    """Per-sample gradients of one layer type. Subclasses implement `per_sample`; `sq_sum` is the fast path.

    Names are relative to the module (`weight`, `out_proj.bias`, ...).
    """

    def covers(self, m: nn.Module) -> list[str]:
        """The parameters this rule's per-sample gradients can be computed for (default: the module's own)."""
        return [n for n, _ in m.named_parameters(recurse=False)]

    def unsupported(self, m: nn.Module, args: tuple, kwargs: dict) -> str | None:
        """Why this call cannot use the rule (then the general path serves it), or None."""
        return None

    def per_sample(self, m: nn.Module, call: Call, names: list[str], lo: int, hi: int) -> dict[str, torch.Tensor]:
        """Gradients of samples lo..hi-1: {name: (hi-lo)×shape}."""
        raise NotImplementedError

    def sq_sum(self, m: nn.Module, call: Call, names: list[str]) -> dict[str, torch.Tensor]:
        """Σ over the call's samples of the squared per-sample gradient, in chunks of bounded size."""
        sizes = sum(_numel(m, n) for n in names)
        out: dict[str, torch.Tensor] = {}
        for lo, hi in chunks(call.batch, sizes):
            for n, v in self.per_sample(m, call, names, lo, hi).items():
                out[n] = out[n] + sq_sum(v) if n in out else sq_sum(v)
        return out


def _numel(m: nn.Module, name: str) -> int:
    return m.get_parameter(name).numel()


_RULES: dict[type, Rule] = {}


def register(*types: type) -> Callable[[type[Rule]], type[Rule]]:
    """Class decorator: `@register(nn.Linear)` makes the rule serve that layer type."""

    def wrap(cls: type[Rule]) -> type[Rule]:
        for t in types:
            _RULES[t] = cls()
        return cls

    return wrap


def rule_for(m: nn.Module) -> Rule | None:
    """The rule for `m`'s type, or for a registered base class whose `forward` it does not override.

    A subclass with its own `forward` (torchvision's LayerNorm2d is a LayerNorm that permutes) computes
    something else, so it needs its own registration.
    """
    for cls in type(m).__mro__:
        rule = _RULES.get(cls)
        if rule is not None and type(m).forward is cls.forward:
            return rule
    return None


# Direct parameters: a function of a parameter and batched data, called in some module's own forward
# (ViT's `class_token.expand(n, -1, -1)`, `x + pos_embedding`, ConvNeXt's `layer_scale * x`).
# OpRule(param, args, kwargs, out, g, lo, hi) -> per-sample gradient (hi-lo)×param.shape.
OpRule = Callable[[torch.Tensor, tuple, dict, torch.Tensor, torch.Tensor, int, int], torch.Tensor]
_OP_RULES: dict[str, OpRule] = {}


def register_op(*names: str) -> Callable[[OpRule], OpRule]:
    """`@register_op("add", "__add__")`: the per-sample gradient of a parameter fed to these functions."""

    def wrap(fn: OpRule) -> OpRule:
        for n in names:
            _OP_RULES[n] = fn
        return fn

    return wrap


def op_rule_for(func: Callable) -> OpRule | None:
    return _OP_RULES.get(getattr(func, "__name__", ""))


def chunks(batch: int, per_sample_elements: int, budget: int | None = None) -> Iterator[tuple[int, int]]:
    """(lo, hi) sample ranges whose per-sample blocks hold at most `budget` elements (at least one sample)."""
    step = max(1, (budget or CHUNK_ELEMENTS) // max(1, per_sample_elements))
    for lo in range(0, batch, step):
        yield lo, min(batch, lo + step)


# Where `gram_sq_sum` beats forming per-sample gradients, by positions per sample and weight size. Measured
# (batch 64, expanded square against per-sample blocks): at 1 position it wins by 3–60× at every size; at 2
# by 1.3–6.5× from 256×2304 up but not on a 96×576 weight (1.7 against 0.8 ms); at 4 only on large weights
# (512×4608: 302 against 676 ms; 256×2304: 92 against 60 ms); never at 6 or more.
GRAM_MEDIUM_WEIGHT = 1 << 16
GRAM_LARGE_WEIGHT = 1 << 21


def use_gram(positions: int, weight_numel: int) -> bool:
    """Whether the expanded square (`gram_sq_sum`) is the faster way for this many positions and weights."""
    return (positions == 1 or (positions == 2 and weight_numel >= GRAM_MEDIUM_WEIGHT)
            or (positions <= 4 and weight_numel >= GRAM_LARGE_WEIGHT))


# Σ_b x_b² is a loop of in-place multiply-adds when each sample's block is at least this large (measured:
# 3.9 ms against 33–45 ms for einsum or pow().sum(0) on 16 blocks of 768×3072), else one mul and sum (0.11 ms
# against 0.27 ms on 128 blocks of 32×288, where the loop's per-call overhead dominates).
SQ_LOOP_MIN_ELEMENTS = 1 << 14


def sq_sum(per_sample: torch.Tensor) -> torch.Tensor:
    """Σ_b x_b² over the leading axis."""
    if per_sample[0].numel() < SQ_LOOP_MIN_ELEMENTS:
        return per_sample.mul(per_sample).sum(0)
    acc = per_sample[0].mul(per_sample[0])
    for x in per_sample[1:]:
        acc.addcmul_(x, x)
    return acc


# Rows of one per-sample product that `mm_sq_sum_` forms at once: 1 MiB of float32, so the matmuls stay
# wide. Measured on the 2-core CPU (batch 128, ResNet-18's and VGG's 4×4 and 8×8 stages): 1 MiB beat
# 64 KiB by 1.2–1.5× (the matmuls get too thin).
TILE_ELEMENTS = 1 << 18
# Per-sample products (elements, all samples of a step together) `mm_sq_sum_` squares and sums per step:
# 8 MiB of float32, 8 samples of a 1 MiB tile. Each step is four tensor operations whatever the number
# of samples. One multiply-add per sample was 1.3–1.4× faster on an idle machine (its products stayed
# cached) but issued 4× as many operations, and on a shared machine, where the second thread of every
# operation waits for a free core, that wait made it up to 4× slower (VGG's 2×2 stage: 16 s against 4 s).
STEP_ELEMENTS = 1 << 21


def mm_sq_sum_(acc: torch.Tensor, g: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """acc += Σ_b (g_b a_b)², in place; g is B×O×L, a is B×L×J (any strides), acc is O×J.

    The per-sample products are formed a row tile and a few samples at a time into one reused buffer,
    squared and summed into the accumulator: memory is one buffer, never B×O×J. Forming whole per-sample
    blocks and squaring them afterwards is memory-bound where L (positions per sample) is small (4×4 and
    8×8 maps): 2.6–5× slower there on the CPU bench, where freed blocks go back to the system and every
    fresh block costs its page faults again.
    """
    o, j = acc.shape
    rows = max(1, min(o, TILE_ELEMENTS // max(1, j)))
    step = max(1, min(len(g), STEP_ELEMENTS // (rows * j)))
    buffer = torch.empty(step * rows * j, dtype=acc.dtype, device=acc.device)
    total = torch.empty(rows, j, dtype=acc.dtype, device=acc.device)
    for r0 in range(0, o, rows):
        r1 = min(o, r0 + rows)
        for lo in range(0, len(g), step):
            hi = min(len(g), lo + step)
            block = buffer[:(hi - lo) * (r1 - r0) * j].view(hi - lo, r1 - r0, j)  # contiguous, for bmm's out
            torch.bmm(g[lo:hi, r0:r1], a[lo:hi], out=block)
            block.mul_(block)
            torch.sum(block, 0, out=total[:r1 - r0])
            acc[r0:r1] += total[:r1 - r0]
    return acc


def gram_sq_sum(g: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """Σ_b (Σ_l g[b,:,l] a[b,:,l]ᵀ)² without forming any per-sample matrix: O × J.

    g is B×O×L, a is B×J×L (L positions per sample: tokens, output pixels). Expanding the square,
    Σ_b Σ_{l,l'} (g_bl ⊙ g_bl')(a_bl ⊙ a_bl')ᵀ: one matmul with an inner size of B·L². It pays where L is
    small (1×1 and 2×2 maps, few tokens) and the weight large: there the per-sample path writes B blocks of
    O×J and is memory-bound. (All L² ordered pairs rather than the L(L+1)/2 unordered ones: selecting the
    triangle is an indexing gather that cost more than the matmul it saves, 88 ms for 64×6000×4.)
    """
    b, o, length = g.shape
    gp = (g.unsqueeze(3) * g.unsqueeze(2)).reshape(b, o, length * length)
    ap = (a.unsqueeze(3) * a.unsqueeze(2)).reshape(b, a.shape[1], length * length)
    return torch.tensordot(gp, ap, dims=([0, 2], [0, 2]))


def reduce_to(per_sample: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """Sum a B×S per-sample tensor down to B×`shape`, where `shape` broadcasts against S (numpy rules).

    `shape` is aligned to the right of B×S; its leading entry (the batch position) must be 1 or absent.
    """
    b, full = per_sample.shape[0], per_sample.shape
    padded = (1,) * (len(full) - len(shape)) + tuple(shape)
    dims = [d for d in range(1, len(full)) if padded[d] == 1 and full[d] != 1]
    out = per_sample.sum(dims, keepdim=True) if dims else per_sample
    return out.reshape(b, *shape)
