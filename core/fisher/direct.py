"""Parameters used directly in a module's forward rather than through a layer: ViT's `class_token`
(`.expand(n, -1, -1)`) and `pos_embedding` (`x + pos_embedding`), ConvNeXt's `layer_scale` (`layer_scale * x`).

The engine sees these calls through a TorchFunctionMode. Each function here maps the gradient g of the
call's output (B×...) to the parameter's per-sample gradient, where the parameter is broadcast over the
batch: its per-sample gradient is g (times the other factor, for a product) summed over the axes it was
broadcast along.
"""

from __future__ import annotations

import torch

from .registry import reduce_to, register_op


def _batch_part(t, batch: int, lo: int, hi: int):
    """Samples lo..hi-1 of a batched operand; a broadcast operand (or a number) as it is."""
    if isinstance(t, torch.Tensor) and t.ndim >= 1 and t.shape[0] == batch and batch != 1:
        return t[lo:hi]
    return t


def _other(param: torch.Tensor, args: tuple):
    """The operand that is not `param` in a binary call, and whether `param` came second."""
    if args[0] is param:
        return args[1], False
    return args[0], True


BROADCASTS = ("expand", "expand_as", "broadcast_to")  # a parameter alone made batch-sized (no data involved)


@register_op(*BROADCASTS)
def broadcast(param, args, kwargs, out, g, lo, hi):
    return reduce_to(g[lo:hi], param.shape)


@register_op("add", "__add__", "__radd__", "__iadd__")
def add(param, args, kwargs, out, g, lo, hi):
    alpha = kwargs.get("alpha", args[2] if len(args) > 2 else 1)
    _, second = _other(param, args)
    scale = alpha if second else 1
    per = reduce_to(g[lo:hi], param.shape)
    return per * scale if scale != 1 else per


@register_op("sub", "__sub__")
def sub(param, args, kwargs, out, g, lo, hi):
    alpha = kwargs.get("alpha", args[2] if len(args) > 2 else 1)
    _, second = _other(param, args)
    return reduce_to(g[lo:hi], param.shape) * (-alpha if second else 1)


@register_op("__rsub__")
def rsub(param, args, kwargs, out, g, lo, hi):
    # Tensor.__rsub__(self, other) = other − self
    return -reduce_to(g[lo:hi], param.shape) if args[0] is param else reduce_to(g[lo:hi], param.shape)


@register_op("mul", "__mul__", "__rmul__")
def mul(param, args, kwargs, out, g, lo, hi):
    other, _ = _other(param, args)
    return reduce_to(g[lo:hi] * _batch_part(other, out.shape[0], lo, hi), param.shape)
