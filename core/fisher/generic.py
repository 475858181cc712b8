"""Any other module: torch.func's vmap over a vjp of the module's own forward, one sample per lane.

Serves layer types without a rule (PReLU, Conv1d, a user's own layer) and the nearest enclosing module of
parameters used in ways no rule covers (Swin's relative-position table, read by indexing). Exact and
batched, but it recomputes the module's forward and backward, so rules are preferred wherever they exist.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call, vjp, vmap
from torch.utils._pytree import tree_flatten, tree_unflatten

from .registry import Call, Rule


class GenericRule(Rule):
    def per_sample(self, m: nn.Module, call: Call, names: list[str], lo: int, hi: int) -> dict[str, torch.Tensor]:
        params = {n: m.get_parameter(n).detach() for n in names}
        leaves, spec = call.meta["leaves"], call.meta["spec"]
        batched = call.meta["batched"]
        outputs = call.meta["outputs"]  # indices of the differentiable outputs, in call.grads order
        cots = [g[lo:hi] if g is not None else torch.zeros((hi - lo, *shape[1:]), dtype=dtype, device=device)
                for g, (shape, dtype, device) in zip(call.grads, call.meta["output_shapes"])]
        slots = [i for i, t in enumerate(leaves) if isinstance(t, torch.Tensor)]  # the rest are constants
        lanes = [leaves[i][lo:hi] if batched[i] else leaves[i] for i in slots]

        def one(lane_tensors: list, lane_cots: list) -> dict[str, torch.Tensor]:
            full = list(leaves)
            for i, t in zip(slots, lane_tensors):
                full[i] = t.unsqueeze(0) if batched[i] else t
            args, kwargs = tree_unflatten(full, spec)

            def forward(p: dict[str, torch.Tensor]) -> tuple[torch.Tensor, ...]:
                flat, _ = tree_flatten(functional_call(m, p, args, kwargs))
                return tuple(flat[i].squeeze(0) for i in outputs)

            _, pull = vjp(forward, params)
            return pull(tuple(lane_cots))[0]

        in_dims = ([0 if batched[i] else None for i in slots], [0] * len(cots))
        return vmap(one, in_dims=in_dims)(lanes, cots)
