"""Exact per-sample squared-gradient diagonals: the empirical Fisher (DeepClean Eq. 1) and LFSSD's sensitivity.

For each parameter w, I_D(w) = mean over (x, y) in D of (∂ℓ(x, y) / ∂w)², where ℓ is a per-sample
objective. The square is taken per sample, never of a batch's mean gradient. Batches are processed
whole: forward hooks keep each layer's input, one backward pass gives the gradient of the summed
objective with respect to each layer's output (which, in eval mode, is each sample's own gradient),
and the per-sample weight gradients are formed from the two, as opacus and BackPACK do:

- Linear: ∇W_i = g_i a_iᵀ, so Σ_i (∇W_i)² = (g²)ᵀ (a²) with no per-sample tensor at all.
- Conv2d: the convolution's weight-gradient kernel with the batch folded into groups where feature maps
  are large next to the weight, else ∇W_i = g_i · unfold(a_i)ᵀ (batched matmuls); squared and summed.
- any other layer with parameters (BatchNorm in eval mode, ...): torch.func.vmap over a vjp.

Memory depends on the batch size, never on the number of samples.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, vjp, vmap
from torch.utils.data import TensorDataset

from .likelihood import log_likelihood  # the Fisher's objective (Eq. 1), exact for confident models
from .runtime import Progress, iter_batches, no_progress, subsample

# Objective: (model outputs B×K, labels B) -> per-sample scalars B.
Objective = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

# Largest per-sample gradient block (elements) formed at once by unfold + matmul. About an L2 cache
# (4 MiB of float32): the block is squared and summed while still cached, ~3× faster than larger
# blocks on the CPU bench, and memory stays bounded.
CONV_CHUNK_ELEMENTS = 1 << 20
# A conv layer's per-sample gradients come from the grouped convolution kernel when its per-sample
# weight gradient (O·C·k·k entries) is small next to its output positions (H×W): at most this many
# entries per position. Measured on CPU (batch 64): grouped wins at 36 to 576 entries per position
# (25–30% at 288 and 576, ResNet-18's second stage), unfold + matmul at 4,608 and above.
CONV_GROUPED_MAX_RATIO = 1024
# ... and only on feature maps of at least this many positions: on tiny maps unfold + matmul is already
# cheap, and the grouped kernel's set-up for each new batch shape would dominate.
CONV_GROUPED_MIN_POSITIONS = 144


def output_sq_norm(out: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
    """||f(x)||² per sample: Loss-Free SSD's label-free objective."""
    return out.pow(2).sum(dim=1)


def _owners(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Modules that directly own trainable parameters, with their qualified names."""
    return [(name, m) for name, m in model.named_modules()
            if any(p.requires_grad for p in m.parameters(recurse=False))]


@contextmanager
def _capture(owners: list[tuple[str, nn.Module]]) -> Iterator[dict[str, list]]:
    """Record each owner's input and output during a forward pass."""
    seen: dict[str, list] = {}
    handles = []
    for name, m in owners:
        def hook(mod, inp, out, name=name):
            if name in seen:
                raise ValueError(f"layer {name!r} runs twice in one forward pass; per-sample gradients need each layer once")
            seen[name] = [inp[0].detach(), out]
        handles.append(m.register_forward_hook(hook))
    try:
        yield seen
    finally:
        for h in handles:
            h.remove()


def _linear(m: nn.Linear, a: torch.Tensor, g: torch.Tensor) -> dict[str, torch.Tensor]:
    if a.ndim > 2:  # positions beyond the batch axis: the per-sample gradient sums over them
        gw = torch.einsum("b...o,b...i->boi", g, a)
        out = {"weight": gw.pow(2).sum(0)}
        if m.bias is not None:
            out["bias"] = g.flatten(1, -2).sum(1).pow(2).sum(0)
        return out
    out = {"weight": g.pow(2).t() @ a.pow(2)}
    if m.bias is not None:
        out["bias"] = g.pow(2).sum(0)
    return out


def _conv_supported(m: nn.Module) -> bool:
    return (type(m) is nn.Conv2d and m.groups == 1 and m.padding_mode == "zeros"
            and not isinstance(m.padding, str))


def _sq_sum(per_sample: torch.Tensor) -> torch.Tensor:
    """Σ_b x_b² over the leading axis, as one contraction that reads the tensor once."""
    return torch.einsum("b...,b...->...", per_sample, per_sample)


def _conv2d(m: nn.Conv2d, a: torch.Tensor, g: torch.Tensor) -> dict[str, torch.Tensor]:
    b, o = g.shape[:2]
    positions = g.shape[2] * g.shape[3]
    if positions >= CONV_GROUPED_MIN_POSITIONS and m.weight.numel() <= CONV_GROUPED_MAX_RATIO * positions:
        # Large feature maps: the convolution's own weight-gradient kernel, with the batch folded into
        # groups, yields every sample's gradient at once and far faster than unfold + matmul.
        c = a.shape[1]
        per_sample = torch.ops.aten.convolution_backward(
            g.reshape(1, b * o, *g.shape[2:]), a.reshape(1, b * c, *a.shape[2:]),
            torch.empty(b * o, c, *m.kernel_size, dtype=g.dtype, device=g.device), None,
            m.stride, m.padding, m.dilation, False, (0, 0), b, (False, True, False))[1]
        weight = _sq_sum(per_sample.view(b, *m.weight.shape))
    else:
        # Small feature maps: ∇W_i = g_i · unfold(a_i)ᵀ for a cache-sized chunk of samples at a time
        # (one batched matmul into a reused buffer), each squared into the running sum in place.
        cols = F.unfold(a, m.kernel_size, dilation=m.dilation, padding=m.padding, stride=m.stride)  # B×(C·k·k)×L
        g3 = g.reshape(b, o, -1)
        weight = torch.zeros(o, cols.shape[1], dtype=g.dtype, device=g.device)
        chunk = max(1, CONV_CHUNK_ELEMENTS // (o * cols.shape[1]))
        buf = torch.empty(min(chunk, b), o, cols.shape[1], dtype=g.dtype, device=g.device)
        for s in range(0, b, chunk):
            block = torch.bmm(g3[s:s + chunk], cols[s:s + chunk].transpose(1, 2), out=buf[:min(chunk, b - s)])
            for grad_i in block:
                weight.addcmul_(grad_i, grad_i)
        weight = weight.view_as(m.weight)
    out = {"weight": weight}
    if m.bias is not None:
        out["bias"] = g.sum((2, 3)).pow(2).sum(0)
    return out


def _generic(m: nn.Module, a: torch.Tensor, g: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-sample gradients of any layer through torch.func, squared and summed.

    Each sample gets its own copy of the parameters (an expanded view); the layer is vmapped over
    (parameters, input) pairs, so one vjp returns every sample's gradient (eval mode keeps samples apart).
    """
    params = {n: p.detach() for n, p in m.named_parameters(recurse=False) if p.requires_grad}
    buffers = dict(m.named_buffers(recurse=False))
    batched = {n: p.expand(len(a), *p.shape) for n, p in params.items()}

    def layer(p: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return functional_call(m, (p, buffers), (x.unsqueeze(0),)).squeeze(0)

    _, pull = vjp(lambda pb: vmap(layer)(pb, a), batched)
    return {n: v.pow(2).sum(0) for n, v in pull(g)[0].items()}


def _layer_sq_grads(m: nn.Module, a: torch.Tensor, g: torch.Tensor) -> dict[str, torch.Tensor]:
    if type(m) is nn.Linear:
        return _linear(m, a, g)
    if _conv_supported(m):
        return _conv2d(m, a, g)
    return _generic(m, a, g)


def squared_grad_mean(model: nn.Module, data: TensorDataset, objective: Objective, *, batch_size: int,
                      max_samples: int | None = None, seed: int = 0, device: torch.device | str | None = None,
                      progress: Progress = no_progress, phase: str = "fisher") -> dict[str, torch.Tensor]:
    """Mean over samples of the squared per-sample gradient of `objective`, for every trainable parameter.

    The model runs in eval mode (so samples do not interact through batch statistics); its mode is
    restored afterwards. `max_samples` subsamples `data` with `seed`.
    """
    data = subsample(data, max_samples, seed)
    n = len(data.tensors[0])
    if n == 0:
        raise ValueError("no samples to compute the Fisher diagonal on")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    owners = _owners(model)
    sums = {f"{name}.{pn}" if name else pn: torch.zeros_like(p)
            for name, m in owners for pn, p in m.named_parameters(recurse=False) if p.requires_grad}
    was_training = model.training
    model.eval()
    done = 0
    try:
        for batch in iter_batches(data, batch_size):
            x = batch[0].to(device)
            y = batch[1].to(device) if len(batch) > 1 else None
            with _capture(owners) as seen:
                total = objective(model(x), y).sum()
            names = [name for name, _ in owners if name in seen]
            grads = torch.autograd.grad(total, [seen[nm][1] for nm in names], allow_unused=True)
            modules = dict(owners)
            for nm, g in zip(names, grads):
                if g is None:
                    continue
                for pn, v in _layer_sq_grads(modules[nm], seen[nm][0], g.detach()).items():
                    sums[f"{nm}.{pn}" if nm else pn] += v
            done += len(x)
            progress(phase, done / n, f"{done}/{n} samples")
    finally:
        model.train(was_training)
    return {k: v / n for k, v in sums.items()}


def fisher_diagonal(model: nn.Module, data: TensorDataset, *, batch_size: int, max_samples: int | None = None,
                    seed: int = 0, device: torch.device | str | None = None, progress: Progress = no_progress,
                    phase: str = "fisher") -> dict[str, torch.Tensor]:
    """The empirical Fisher diagonal of DeepClean's Eq. 1: mean of (∂ log p(y|x,w) / ∂w)² over `data`."""
    return squared_grad_mean(model, data, log_likelihood, batch_size=batch_size, max_samples=max_samples,
                             seed=seed, device=device, progress=progress, phase=phase)


def output_norm_sensitivity(model: nn.Module, data: TensorDataset, *, batch_size: int,
                            max_samples: int | None = None, seed: int = 0, device: torch.device | str | None = None,
                            progress: Progress = no_progress, phase: str = "sensitivity") -> dict[str, torch.Tensor]:
    """Loss-Free SSD's importance: mean of (∂ ||f(x)||² / ∂w)² over `data`; labels are not used."""
    return squared_grad_mean(model, data, output_sq_norm, batch_size=batch_size, max_samples=max_samples,
                             seed=seed, device=device, progress=progress, phase=phase)
