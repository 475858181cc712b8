"""nn.MultiheadAttention: its forward uses `in_proj_weight` and `out_proj.weight` directly (out_proj's own
forward never runs), so one rule covers all four parameters.

The rule recomputes q, k, v and the softmax from the captured inputs and back-propagates the output's
gradient through the attention by hand (dS = P ⊙ (dP − rowsum(dP ⊙ P))); the projections' per-sample
gradients are then those of Linear layers on the tokens. The recomputation costs the projections and
attention once more (forward and backward): about 10–15% of a ViT block's forward+backward.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .linear import linear_per_sample, linear_sq_sum
from .registry import Call, Rule, chunks, register

PARAMS = ("in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias")
_ARGS = ("query", "key", "value")


def _inputs(m: nn.MultiheadAttention, call: Call) -> list[torch.Tensor]:
    args = list(call.args[:3]) + [call.kwargs[k] for k in _ARGS[len(call.args):] if k in call.kwargs]
    return args if m.batch_first else [t.transpose(0, 1) for t in args]


class _Pieces:
    """The per-sample gradient pieces of samples lo..hi-1: the two projections' inputs and output gradients."""

    def __init__(self, m: nn.MultiheadAttention, call: Call, lo: int, hi: int) -> None:
        q_in, k_in, v_in = (t[lo:hi] for t in _inputs(m, call))
        g = (call.grad if m.batch_first else call.grad.transpose(0, 1))[lo:hi]  # b×T×E
        e, h = m.embed_dim, m.num_heads
        w, bias = m.in_proj_weight, m.in_proj_bias
        blocks = [F.linear(t, w[i * e:(i + 1) * e], None if bias is None else bias[i * e:(i + 1) * e])
                  for i, t in enumerate((q_in, k_in, v_in))]
        b = g.shape[0]
        q, k, v = (t.reshape(b, t.shape[1], h, e // h).transpose(1, 2) for t in blocks)  # b×h×T×d
        scale = (e // h) ** -0.5
        p = torch.softmax(q @ k.transpose(-1, -2) * scale, dim=-1)  # b×h×T×S
        self.attended = (p @ v).transpose(1, 2).reshape(b, -1, e)  # out_proj's input, b×T×E
        self.g_out = g
        d_o = (g @ m.out_proj.weight).reshape(b, -1, h, e // h).transpose(1, 2)
        d_p = d_o @ v.transpose(-1, -2)
        d_s = p * (d_p - (d_p * p).sum(-1, keepdim=True)) * scale
        merge = lambda t: t.transpose(1, 2).reshape(b, -1, e)  # noqa: E731
        self.d_in = [merge(d_s @ k), merge(d_s.transpose(-1, -2) @ q), merge(p.transpose(-1, -2) @ d_o)]
        self.inputs = (q_in, k_in, v_in)
        self.self_attention = q_in is k_in and k_in is v_in


@register(nn.MultiheadAttention)
class MultiheadAttentionRule(Rule):
    def covers(self, m: nn.MultiheadAttention) -> list[str]:
        found = dict(m.named_parameters())
        return [n for n in PARAMS if n in found]

    def unsupported(self, m: nn.MultiheadAttention, args: tuple, kwargs: dict) -> str | None:
        if not m._qkv_same_embed_dim or m.in_proj_weight is None:
            return "separate q/k/v projection weights"
        if m.bias_k is not None or m.add_zero_attn:
            return "add_bias_kv / add_zero_attn"
        if any(kwargs.get(k) is not None for k in ("key_padding_mask", "attn_mask")) or len(args) > 3 \
                or kwargs.get("is_causal"):
            return "attention masks"
        return None

    @staticmethod
    def _step(m: nn.MultiheadAttention, call: Call) -> int:
        q = _inputs(m, call)
        return q[0].shape[1] * q[1].shape[1] * m.num_heads  # attention probabilities per sample

    def sq_sum(self, m: nn.MultiheadAttention, call: Call, names: list[str]) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}

        def add(name: str, v: torch.Tensor) -> None:
            if name in names:
                out[name] = out[name] + v if name in out else v

        for lo, hi in chunks(call.batch, self._step(m, call)):
            pc = _Pieces(m, call, lo, hi)
            proj = linear_sq_sum(pc.attended, pc.g_out, m.out_proj.bias is not None)
            add("out_proj.weight", proj["weight"])
            add("out_proj.bias", proj.get("bias"))
            has_bias = m.in_proj_bias is not None
            if pc.self_attention:
                inp = linear_sq_sum(pc.inputs[0], torch.cat(pc.d_in, -1), has_bias)
            else:
                parts = [linear_sq_sum(a, g, has_bias) for a, g in zip(pc.inputs, pc.d_in)]
                inp = {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
            add("in_proj_weight", inp["weight"])
            add("in_proj_bias", inp.get("bias"))
        return out

    def per_sample(self, m: nn.MultiheadAttention, call: Call, names: list[str], lo: int, hi: int) -> dict[str, torch.Tensor]:
        pc = _Pieces(m, call, lo, hi)
        has_bias = m.in_proj_bias is not None
        proj = linear_per_sample(pc.attended, pc.g_out, m.out_proj.bias is not None, 0, hi - lo)
        parts = [linear_per_sample(a, g, has_bias, 0, hi - lo) for a, g in zip(pc.inputs, pc.d_in)]
        full = {"out_proj.weight": proj["weight"], "out_proj.bias": proj.get("bias"),
                "in_proj_weight": torch.cat([p["weight"] for p in parts], 1),
                "in_proj_bias": torch.cat([p["bias"] for p in parts], 1) if has_bias else None}
        return {n: full[n] for n in names}
