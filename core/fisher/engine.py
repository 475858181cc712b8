"""The batched engine: one forward and one backward pass per batch give every parameter's Σ_i (∇w ℓ_i)².

How a batch is processed:

1. A *plan*, made once per call on two samples, says who computes each parameter's per-sample gradient:
   the rule of the layer that owns it (when that layer runs on batched data), a function rule for a
   parameter used directly in some forward (`class_token.expand(...)`), or, for anything else, the
   general torch.func path on the nearest module that encloses every use of the parameter.
2. The forward pass runs with every parameter's `requires_grad` off and the input's on, so exactly the
   tensors that depend on the data require gradients. Hooks keep each planned call's inputs and register
   a hook on its outputs' gradients. Backward is asked for the gradients at the first layers' outputs
   (their graph edges), not at the input, so it computes neither weight gradients nor the input's
   gradient, only what the rules need.
3. During backward each call's rule turns (inputs, output gradient) into Σ_i (∇w_i)² as soon as the
   gradient arrives, and frees it. Parameters reached by several calls (a layer called twice, a tied
   weight) and the general path sum per-sample gradients over their calls first, after backward, in
   chunks of bounded size: memory depends on the batch size, never on the number of samples.
"""

from __future__ import annotations

from collections import Counter
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Callable, Iterator

import torch
from torch import nn
from torch.autograd.graph import get_gradient_edge
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten, tree_unflatten
from torch.utils.data import TensorDataset

from ..runtime import Progress, iter_batches, no_progress, subsample
from .direct import BROADCASTS
from .generic import GenericRule
from .registry import Call, Rule, chunks, op_rule_for, rule_for, sq_sum

# Objective: (model outputs B×K, labels B) -> per-sample scalars B.
Objective = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

# Samples the planning forward pass runs on (one batch would do; two show which tensors carry the batch).
PROBE_SAMPLES = 2
GENERIC = GenericRule()


@dataclass(eq=False)
class Role:
    """What one module call (or direct-parameter call) computes: `rule` for `names` (relative to the
    module), accumulated into `qualified` (the model's parameter names)."""

    rule: Rule
    names: list[str]
    qualified: list[str]


class _OpRole(Rule):
    """Adapts a direct-parameter function rule to the Rule interface (names: the parameter's own name)."""

    def __init__(self, fn, param: torch.Tensor) -> None:
        self.fn, self.param = fn, param

    def per_sample(self, m, call: Call, names: list[str], lo: int, hi: int) -> dict[str, torch.Tensor]:
        return {names[0]: self.fn(self.param, call.args, call.kwargs, call.meta["out"], call.grad, lo, hi)}

    def sq_sum(self, m, call: Call, names: list[str]) -> dict[str, torch.Tensor]:
        total = torch.zeros_like(self.param, dtype=call.grad.dtype)
        for lo, hi in chunks(call.batch, self.param.numel()):
            total += sq_sum(self.per_sample(m, call, names, lo, hi)[names[0]])
        return {names[0]: total}


@dataclass
class Plan:
    """Per module, the roles its calls play; the directly used parameters followed through functions."""

    modules: dict[nn.Module, list[Role]] = field(default_factory=dict)
    direct: dict[int, str] = field(default_factory=dict)  # id(parameter) -> qualified name
    # Planned modules inside which no other planned call runs: backward may stop at their outputs.
    cuttable: set[nn.Module] = field(default_factory=set)
    # Whether backward must also reach the input: some call's gradient lies on a path to it that bypasses
    # the first layers (a parameter-free step before them, a branch). Decided on the probe (`_needs_input`).
    needs_input: bool = True


# --------------------------------------------------------------------------------------------- planning

@dataclass
class _Use:
    stack: tuple[nn.Module, ...]
    op_ok: bool


def _flat_tensors(args: tuple, kwargs: dict) -> list[torch.Tensor]:
    return [t for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)]


def _is_float_tensor(t) -> bool:
    return isinstance(t, torch.Tensor) and t.is_floating_point()


class _Recorder(TorchFunctionMode):
    """Planning: every function call that reads a trainable parameter, with the modules it ran inside."""

    def __init__(self, ids: dict[int, str], stack: list[nn.Module], uses: dict[int, list[_Use]], batch: int):
        super().__init__()
        self.ids, self.stack, self.uses, self.batch = ids, stack, uses, batch

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        hit = [t for t in _flat_tensors(args, kwargs) if id(t) in self.ids]
        if hit and any(_is_float_tensor(t) for t in tree_flatten(out)[0]):  # not p.shape, p.dtype, ...
            for p in hit:
                # A function rule applies when the output carries the batch (it depends on the data, or the
                # parameter is broadcast to it) and the parameter is broadcast along the batch axis.
                ok = (op_rule_for(func) is not None and len(hit) == 1 and _is_float_tensor(out) and out.ndim >= 1
                      and out.shape[0] == self.batch and (p.ndim < out.ndim or p.shape[0] == 1)
                      and (out.requires_grad or getattr(func, "__name__", "") in BROADCASTS))
                self.uses.setdefault(id(p), []).append(_Use(tuple(self.stack), ok))
        return out


def make_plan(model: nn.Module, probe: torch.Tensor, trainable: dict[str, torch.Tensor]) -> Plan:
    """Run `model` on `probe` (a few samples) and decide who computes each parameter's per-sample gradient."""
    ids = {id(p): name for name, p in trainable.items()}
    parent: dict[nn.Module, nn.Module] = {}
    for m in model.modules():
        for c in m.children():
            parent.setdefault(c, m)
    owner: dict[int, nn.Module] = {}
    for m in model.modules():
        for p in m.parameters(recurse=False):
            owner.setdefault(id(p), m)

    stack: list[nn.Module] = []
    uses: dict[int, list[_Use]] = {}
    calls: dict[nn.Module, list[bool]] = {}  # per module call: batched and its rule applies

    def pre(m, args, kwargs):
        stack.append(m)

    def post(m, args, kwargs, out):
        stack.pop()
        batched = any(t.requires_grad for t in _flat_tensors(args, kwargs))
        rule = rule_for(m)
        ok = batched and (rule is None or rule.unsupported(m, args, kwargs) is None)
        calls.setdefault(m, []).append(ok)

    handles = []
    for m in model.modules():
        handles.append(m.register_forward_pre_hook(pre, with_kwargs=True))
        handles.append(m.register_forward_hook(post, with_kwargs=True))
    try:
        with torch.enable_grad(), _Recorder(ids, stack, uses, len(probe)):
            model(probe.detach().requires_grad_())
    finally:
        for h in handles:
            h.remove()

    def called_batched(m: nn.Module) -> bool:
        return bool(calls.get(m)) and all(calls[m])

    plan = Plan()

    def add_role(m: nn.Module, rule: Rule, rel: str, qualified: str) -> None:
        roles = plan.modules.setdefault(m, [])
        role = next((r for r in roles if r.rule is rule), None)
        if role is None:
            roles.append(Role(rule, [rel], [qualified]))
        else:
            role.names.append(rel)
            role.qualified.append(qualified)

    for qualified, p in trainable.items():
        found = uses.get(id(p))
        if not found:
            continue  # never read: its gradient, and Fisher, is 0
        chain, m = [], owner.get(id(p))
        while m is not None:
            chain.append(m)
            m = parent.get(m)
        covered = False
        for m in chain:  # the layer itself, or an enclosing layer whose rule covers it (attention's out_proj)
            rule = rule_for(m)
            if rule is None or not called_batched(m) or not all(m in u.stack for u in found):
                continue
            rel = _relative_name(m, p)
            if rel in rule.covers(m):
                add_role(m, rule, rel, qualified)
                covered = True
                break
        if covered:
            continue
        if all(u.op_ok for u in found):
            plan.direct[id(p)] = qualified
            continue
        common = [m for m in found[0].stack if all(m in u.stack for u in found[1:]) and called_batched(m)]
        if not common:
            raise ValueError(f"parameter {qualified!r} is used outside any module that runs on the batch; "
                             f"its per-sample gradient cannot be formed")
        m = common[-1]  # the innermost module enclosing every use
        add_role(m, GENERIC, _relative_name(m, p), qualified)
    enclosing = {a for m in plan.modules for a in _ancestors(m, parent)}
    enclosing |= {m for i in plan.direct for u in uses[i] for m in u.stack}
    plan.cuttable = {m for m in plan.modules if m not in enclosing}
    return plan


def _ancestors(m: nn.Module, parent: dict[nn.Module, nn.Module]) -> Iterator[nn.Module]:
    while m in parent:
        m = parent[m]
        yield m


def _relative_name(m: nn.Module, p: torch.Tensor) -> str:
    return next(n for n, q in m.named_parameters(remove_duplicate=False) if q is p)


# ------------------------------------------------------------------------------------------------ batches

class _Batch:
    """One batch's calls, their gradient hooks and the leaves that stop backward before the input."""

    def __init__(self, plan: Plan, params: dict[str, torch.Tensor], sums: dict[str, torch.Tensor],
                 x: torch.Tensor, names: dict[nn.Module, str]) -> None:
        self.plan, self.params, self.sums, self.x, self.names = plan, params, sums, x, names
        self.batch = len(x)
        self.calls: list[tuple[Role, Call]] = []
        self.leaves: list[torch.Tensor] = []
        self.edges: list = []  # GradientEdges where backward may stop
        self.counts: Counter[str] = Counter()
        self.dry = False  # only record which calls receive a gradient (the planning probe)

    # -- forward
    def outputs(self, call: Call, out, cut: bool):
        """Register gradient hooks on the call's differentiable outputs; when `cut`, backward stops there."""
        flat, spec = tree_flatten(out)
        idx = [i for i, t in enumerate(flat) if _is_float_tensor(t) and t.requires_grad]
        if not idx:
            return None
        call.grads = [None] * len(idx)
        call.meta["outputs"] = idx
        call.meta["output_shapes"] = [(flat[i].shape, flat[i].dtype, flat[i].device) for i in idx]
        call.meta["out"] = flat[idx[0]]
        for j, i in enumerate(idx):
            if cut:  # a first layer: backward is asked for the gradient at its output edge and stops there
                self.edges.append(get_gradient_edge(flat[i]))
            flat[i].register_hook(lambda g, call=call, j=j: self.arrived(call, j, g))
        return None

    def capture(self, m: nn.Module | None, roles: list[Role], args: tuple, kwargs: dict, out):
        leaves, spec = tree_flatten((args, kwargs))
        batched = [isinstance(t, torch.Tensor) and t.requires_grad for t in leaves]
        if not any(batched):
            where = self.names.get(m, type(m).__name__) if m is not None else "a direct parameter"
            raise RuntimeError(f"{where} ran on data that does not depend on the batch in this pass, unlike in "
                               f"the planning pass; per-sample gradients need the same control flow for every batch")
        detached = [t.detach() if isinstance(t, torch.Tensor) else t for t in leaves]
        d_args, d_kwargs = tree_unflatten(detached, spec)
        call = Call(m, d_args, d_kwargs, self.batch)
        call.meta.update(leaves=detached, spec=spec, batched=batched,
                         versions=[(t, t._version) for t in detached if isinstance(t, torch.Tensor)])
        for role in roles:
            self.calls.append((role, call))
            self.counts.update(role.qualified)
        cut = m in self.plan.cuttable and any(t is self.x for t in leaves)
        return self.outputs(call, out, cut)

    def module_hook(self, m: nn.Module, args: tuple, kwargs: dict, out):
        return self.capture(m, self.plan.modules[m], args, kwargs, out)

    # -- backward
    def deferred(self, role: Role, call: Call) -> bool:
        """Processed after backward: the general path, several outputs, or a parameter with several calls."""
        return (role.rule is GENERIC or len(call.grads) > 1
                or any(self.counts[q] > 1 for q in role.qualified))

    def arrived(self, call: Call, j: int, g: torch.Tensor) -> None:
        if self.dry:
            call.meta["done"] = True
            return
        call.grads[j] = g.detach()
        if call.meta.get("done"):
            return
        roles = [r for r, c in self.calls if c is call]
        if any(self.deferred(r, call) for r in roles):
            return
        self.check(call)
        for role in roles:
            got = role.rule.sq_sum(call.module, call, role.names)
            for rel, q in zip(role.names, role.qualified):
                self.sums[q] += got[rel]
        call.meta["done"] = True
        call.grads = [None]  # free the gradient and inputs now
        call.args, call.kwargs = (), {}
        call.meta.pop("leaves", None)
        call.meta.pop("versions", None)

    def close(self) -> list[bool]:
        """Which calls received a gradient; then drop every reference the calls hold.

        A call's output holds its autograd node, the node holds the gradient hook, and the hook holds the
        call: a cycle through C++ that Python's collector cannot see, which kept each batch's activations
        alive (17 M floats per batch of vit_mini) until this was cleared."""
        reached = [c.meta.get("done", False) or any(g is not None for g in c.grads) for _, c in self.calls]
        for _, call in self.calls:
            call.meta.clear()
            call.args, call.kwargs, call.grads = (), {}, []
        self.calls.clear()
        self.edges.clear()
        self.leaves.clear()
        return reached

    def check(self, call: Call) -> None:
        for t, v in call.meta.get("versions", ()):
            if t._version != v:
                where = self.names.get(call.module, "a direct parameter's operand")
                raise RuntimeError(f"the input of {where!r} was modified in place after it ran; per-sample "
                                   f"gradients need it unchanged (use out-of-place operations there)")

    def finish(self) -> None:
        """The deferred calls: per-sample gradients summed over each parameter's calls, then squared."""
        todo = [(r, c) for r, c in self.calls if not c.meta.get("done") and any(g is not None for g in c.grads)]
        if not todo:
            return
        for _, c in todo:
            self.check(c)
        per = sum(self.params[q].numel() for r, _ in todo for q in r.qualified)
        for lo, hi in chunks(self.batch, per):
            acc: dict[str, torch.Tensor] = {}
            for role, call in todo:
                got = role.rule.per_sample(call.module, call, role.names, lo, hi)
                for rel, q in zip(role.names, role.qualified):
                    acc[q] = acc[q] + got[rel] if q in acc else got[rel]
            for q, v in acc.items():
                self.sums[q] += sq_sum(v)


class _DirectTracker(TorchFunctionMode):
    """Real passes: the calls that read a directly used parameter, captured like module calls."""

    def __init__(self, batch: _Batch) -> None:
        super().__init__()
        self.b = batch

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        hit = [t for t in _flat_tensors(args, kwargs) if id(t) in self.b.plan.direct]
        if not hit or not _is_float_tensor(out):
            return out
        p = hit[0]
        q = self.b.plan.direct[id(p)]
        fn = op_rule_for(func)
        if fn is None or out.ndim == 0 or out.shape[0] != self.b.batch:
            raise RuntimeError(f"parameter {q!r} is used by {getattr(func, '__name__', func)} in a way the "
                               f"planning pass did not see; per-sample gradients need the same control flow for every batch")
        if not out.requires_grad:  # parameter-only (class_token.expand): becomes a leaf, like a first layer
            leaf = out.detach().requires_grad_()
            self.b.leaves.append(leaf)
            out = leaf.clone()
        keep = lambda a: a.detach() if isinstance(a, torch.Tensor) and a is not p else a  # noqa: E731 (rules find p by identity)
        call = Call(None, tuple(keep(a) for a in args), {k: keep(v) for k, v in kwargs.items()}, self.b.batch)
        call.meta["versions"] = [(t.detach(), t._version) for t in _flat_tensors(args, kwargs)]
        role = Role(_OpRole(fn, p), [q], [q])
        self.b.calls.append((role, call))
        self.b.counts.update([q])
        self.b.outputs(call, out, cut=False)
        return out


@contextmanager
def _hooks(model: nn.Module, batch: _Batch) -> Iterator[None]:
    handles = [m.register_forward_hook(batch.module_hook, with_kwargs=True) for m in batch.plan.modules]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def _batch_sums(model: nn.Module, plan: Plan, params: dict[str, torch.Tensor], sums: dict[str, torch.Tensor],
                names: dict[nn.Module, str], x: torch.Tensor, y: torch.Tensor | None, objective: Objective,
                dry: bool = False) -> list[bool]:
    """Add one batch's Σ_i (∇w_i)² to `sums`; returns which planned calls received a gradient."""
    x = x.detach().requires_grad_()
    batch = _Batch(plan, params, sums, x, names)
    batch.dry = dry
    tracker = _DirectTracker(batch) if plan.direct else nullcontext()
    try:
        with torch.enable_grad(), _hooks(model, batch), tracker:
            total = objective(model(x), y).sum()
        if total.requires_grad:
            stops = [*batch.edges, *batch.leaves]
            torch.autograd.grad(total, [x, *stops] if plan.needs_input or not stops else stops, allow_unused=True)
        if not dry:
            batch.finish()
    finally:
        reached = batch.close()
    return reached


def _needs_input(model: nn.Module, plan: Plan, params: dict[str, torch.Tensor], names: dict[nn.Module, str],
                 x: torch.Tensor, y: torch.Tensor | None, objective: Objective) -> bool:
    """Whether stopping backward at the first layers' outputs would starve some call of its gradient.

    Runs the probe both ways and compares which calls received one: a robust stand-in for walking the
    autograd graph for paths to the input that bypass the first layers."""
    def reached(needs: bool) -> list[bool]:
        plan.needs_input = needs
        return _batch_sums(model, plan, params, {}, names, x, y, objective, dry=True)

    return reached(True) != reached(False)


@contextmanager
def _frozen(model: nn.Module) -> Iterator[dict[str, torch.Tensor]]:
    """Eval mode and every parameter's requires_grad off; yields the trainable ones by name. Restores both."""
    was_training = model.training
    flags = [(p, p.requires_grad) for p in model.parameters()]
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    model.eval()
    try:
        for p, _ in flags:
            p.requires_grad_(False)
        yield trainable
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
        model.train(was_training)


def squared_grad_mean(model: nn.Module, data: TensorDataset, objective: Objective, *, batch_size: int,
                      max_samples: int | None = None, seed: int = 0, device: torch.device | str | None = None,
                      progress: Progress = no_progress, phase: str = "fisher") -> dict[str, torch.Tensor]:
    """Mean over samples of the squared per-sample gradient of `objective`, for every trainable parameter.

    The model runs in eval mode (so samples do not interact through batch statistics); its mode and its
    parameters' `requires_grad` are restored afterwards. `max_samples` subsamples `data` with `seed`.
    """
    data = subsample(data, max_samples, seed)
    n = len(data.tensors[0])
    if n == 0:
        raise ValueError("no samples to compute the Fisher diagonal on")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    names = {m: name for name, m in model.named_modules()}
    with _frozen(model) as trainable:
        sums = {name: torch.zeros_like(p) for name, p in trainable.items()}
        plan: Plan | None = None
        done = 0
        for batch in iter_batches(data, batch_size):
            x = batch[0].to(device)
            y = batch[1].to(device) if len(batch) > 1 else None
            if plan is None:
                plan = make_plan(model, x[:PROBE_SAMPLES], trainable)
                plan.needs_input = _needs_input(model, plan, trainable, names, x[:PROBE_SAMPLES],
                                                None if y is None else y[:PROBE_SAMPLES], objective)
            _batch_sums(model, plan, trainable, sums, names, x, y, objective)
            done += len(x)
            progress(phase, done / n, f"{done}/{n} samples")
    return {k: v / n for k, v in sums.items()}
