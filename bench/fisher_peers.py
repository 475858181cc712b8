"""Our exact Fisher diagonal beside the libraries people use for per-sample squared gradients.

    make bench                       # installs requirements-bench.txt, runs this (and the other benches)
    .venv/bin/python bench/fisher_peers.py [--quick] [--json FILE] [--rounds N]

For each model and input, at batch 64 and 128, every method computes the mean over the same samples of
the squared per-sample gradient of log p(y|x) (the empirical Fisher diagonal, DeepClean's Eq. 1):

- `ours`: core.fisher.fisher_diagonal;
- `backpack`: BackPACK's SumGradSquared on a sum-reduced cross-entropy (`extend(..., use_converter=True)`);
- `opacus_hooks`, `opacus_functorch`: opacus' GradSampleModule (its hooks, or force_functorch=True), then
  the per-sample `grad_sample` squared and summed;
- `nngeometry`: `FIM(..., PMatDiag, variant="regression")` on the per-sample log-likelihood, i.e. its
  empirical-Fisher diagonal. Its default variant ("classif_logits") computes the *true* Fisher instead:
  the expectation over y ~ p(y|x) of the model's own predictive distribution, not the observed labels;
- `torch_func`: vmap(grad) over samples in chunks of bounded memory, squared and summed;
- `naive`: one forward+backward per sample (timed on a subset, scaled to all samples).

Times are ratios measured in one process: rounds interleave every method, each method's best round is kept
and the spread (slowest ÷ fastest round) reported; `vs_plain` divides by one plain forward+backward pass over
the same samples and batch size, `vs_ours` by ours. `peak_mb` is the extra resident memory at the peak of the
method's first run (glibc made to return freed blocks, so the baseline does not creep). `rel_err` is the
largest per-tensor ‖got − ref‖/‖ref‖ against a float64 one-sample loop on `accuracy_samples` samples.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import time
import traceback
import warnings
from dataclasses import dataclass
from typing import Callable

# glibc keeps freed blocks of growing sizes unless the mmap threshold is fixed: RSS would then not fall back
# between methods and every peak after the first would read low. Re-exec with a fixed threshold (bytes).
MALLOC_MMAP_THRESHOLD = 1 << 17
if os.environ.get("MALLOC_MMAP_THRESHOLD_") is None:
    os.environ["MALLOC_MMAP_THRESHOLD_"] = str(MALLOC_MMAP_THRESHOLD)
    os.execv(sys.executable, [sys.executable, *sys.argv])

import common  # noqa: E402  (puts the repository on sys.path)
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from core.fisher import fisher_diagonal  # noqa: E402
from core.likelihood import log_likelihood  # noqa: E402
from core.models import build_model  # noqa: E402

METHODS = ("ours", "backpack", "opacus_hooks", "opacus_functorch", "nngeometry", "torch_func", "naive")
CASES = [("cnn_small", (1, 28, 28)), ("cnn_small", (3, 32, 32)), ("resnet18", (3, 32, 32)), ("vgg16_bn", (3, 32, 32))]
BATCHES = (64, 128)
CLASSES = 10
# torch.func holds every sample's full gradient at once: chunks of at most this many gradient entries
# (1 GiB of float32), as a user with a 24 GB machine would.
TORCH_FUNC_ELEMENTS = 1 << 28


@dataclass(frozen=True)
class Settings:
    """Samples per case (by model), rounds, naive-loop subset and accuracy subset."""

    samples: dict[str, int]
    rounds: int
    naive_samples: int
    accuracy_samples: int


FULL = Settings({"cnn_small": 512, "resnet18": 128, "vgg16_bn": 128}, rounds=3, naive_samples=32, accuracy_samples=16)
QUICK = Settings({"cnn_small": 128, "resnet18": 128, "vgg16_bn": 128}, rounds=2, naive_samples=8, accuracy_samples=8)

# A method is prepared once per model (BackPACK's extend, opacus' wrapper: set-up a user pays once), then
# called as run(x, y, batch_size) -> {parameter name: mean squared per-sample gradient}.
Run = Callable[[torch.Tensor, torch.Tensor, int], dict[str, torch.Tensor]]
Prepare = Callable[[nn.Module], Run]


def _batches(x: torch.Tensor, y: torch.Tensor, bs: int):
    for i in range(0, len(x), bs):
        yield x[i:i + bs], y[i:i + bs]


def ours(model: nn.Module) -> Run:
    return lambda x, y, bs: fisher_diagonal(model, TensorDataset(x, y), batch_size=bs)


def backpack(model: nn.Module) -> Run:
    from backpack import backpack as context
    from backpack import extend
    from backpack.extensions import SumGradSquared

    names = {id(p): n for n, p in model.named_parameters()}
    ext = extend(model, use_converter=not isinstance(model, nn.Sequential))  # residual models need the converter
    loss_fn = extend(nn.CrossEntropyLoss(reduction="sum"))
    named = [(names.get(id(p), n), p) for n, p in ext.named_parameters()]

    def run(x, y, bs):
        sums = {n: torch.zeros_like(p) for n, p in named}
        for xb, yb in _batches(x, y, bs):
            ext.zero_grad(set_to_none=True)
            with context(SumGradSquared()):
                loss_fn(ext(xb), yb).backward()
            for n, p in named:
                sums[n] += p.sum_grad_squared
        return {k: v / len(x) for k, v in sums.items()}

    return run


def _opacus(force_functorch: bool) -> Prepare:
    def prepare(model: nn.Module) -> Run:
        from opacus import GradSampleModule

        # opacus' hooks capture activations only in training mode; where the model has neither BatchNorm nor
        # dropout (cnn_small) that mode computes the same function. BatchNorm it refuses (a layer with buffers).
        if not any(isinstance(m, (nn.modules.batchnorm._BatchNorm, nn.Dropout)) for m in model.modules()):
            model.train()
        gsm = GradSampleModule(model, batch_first=True, loss_reduction="sum", strict=False,
                               force_functorch=force_functorch)
        named = list(model.named_parameters())

        def run(x, y, bs):
            sums = {n: torch.zeros_like(p) for n, p in named}
            for xb, yb in _batches(x, y, bs):
                gsm.zero_grad(set_to_none=True)
                F.cross_entropy(gsm(xb), yb, reduction="sum").backward()
                for n, p in named:
                    sums[n] += p.grad_sample.pow(2).sum(0)
                    p.grad_sample = None
            return {k: v / len(x) for k, v in sums.items()}

        return run

    return prepare


def nngeometry(model: nn.Module) -> Run:
    from nngeometry.layercollection import LayerCollection
    from nngeometry.metrics import FIM
    from nngeometry.object import PMatDiag

    lc = LayerCollection.from_model(model)
    modules = dict(model.named_modules())

    def run(x, y, bs):
        fim = FIM(model, DataLoader(TensorDataset(x, y), batch_size=bs), PMatDiag, variant="regression",
                  function=lambda xb, yb: log_likelihood(model(xb), yb)[:, None], layer_collection=lc)
        diag, out = fim.get_diag(), {}
        for layer_id in lc.layers:
            pos = lc.p_pos[layer_id]
            for pname in ("weight", "bias"):  # nngeometry's order within a layer
                p = getattr(modules[layer_id], pname, None)
                if isinstance(p, nn.Parameter):
                    out[f"{layer_id}.{pname}"] = diag[pos:pos + p.numel()].view_as(p)
                    pos += p.numel()
        return out

    return run


def torch_func(model: nn.Module) -> Run:
    from torch.func import functional_call, grad, vmap

    params = {n: p.detach() for n, p in model.named_parameters()}
    buffers = dict(model.named_buffers())

    def loss(p, xi, yi):
        return -log_likelihood(functional_call(model, (p, buffers), (xi[None],)), yi[None]).sum()

    per_grad = vmap(grad(loss), in_dims=(None, 0, 0))
    chunk = max(1, TORCH_FUNC_ELEMENTS // sum(p.numel() for p in params.values()))

    def run(x, y, bs):
        sums = {n: torch.zeros_like(p) for n, p in params.items()}
        for xb, yb in _batches(x, y, bs):
            for xc, yc in _batches(xb, yb, min(bs, chunk)):
                for n, g in per_grad(params, xc, yc).items():
                    sums[n] += g.pow(2).sum(0)
        return {k: v / len(x) for k, v in sums.items()}

    return run


def naive_fisher(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    named = list(model.named_parameters())
    sums = {n: torch.zeros_like(p) for n, p in named}
    for i in range(len(x)):
        model.zero_grad(set_to_none=True)
        log_likelihood(model(x[i:i + 1]), y[i:i + 1]).sum().backward()
        for n, p in named:
            sums[n].addcmul_(p.grad, p.grad)
    return {k: v / len(x) for k, v in sums.items()}


def naive(model: nn.Module) -> Run:
    return lambda x, y, bs: naive_fisher(model, x, y)


PREPARE: dict[str, Prepare] = {"ours": ours, "backpack": backpack, "opacus_hooks": _opacus(False),
                               "opacus_functorch": _opacus(True), "nngeometry": nngeometry,
                               "torch_func": torch_func, "naive": naive}


def plain(model, x, y, bs):
    for xb, yb in _batches(x, y, bs):
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(xb), yb).backward()


def _model(name: str, shape: tuple[int, int, int]) -> nn.Module:
    torch.manual_seed(0)
    return build_model(name, shape, CLASSES).eval()


def rel_err(got: dict[str, torch.Tensor], ref: dict[str, torch.Tensor]) -> float:
    """Largest per-tensor relative error; a tensor a method did not return counts as 1."""
    worst = 0.0
    for k, r in ref.items():
        g = got.get(k)
        err = 1.0 if g is None else float((g.double() - r).norm() / r.norm().clamp_min(1e-300))
        worst = max(worst, err)
    return worst


def measure_case(name: str, shape, bs: int, s: Settings, ref: dict[str, torch.Tensor], acc_data) -> list[dict]:
    from common import peak_rss_during

    n = s.samples[name]
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(n, *shape, generator=g), torch.randint(0, CLASSES, (n,), generator=g)
    xs, ys = x[:s.naive_samples], y[:s.naive_samples]
    plain_model = _model(name, shape)
    calls: dict[str, Callable[[], object]] = {"plain": lambda: plain(plain_model, x, y, bs)}
    errors, peaks, errs = {}, {}, {}
    for m in METHODS:  # each on its own copy: peers wrap or extend the model and must not see each other
        try:
            run = PREPARE[m](_model(name, shape))
            errs[m] = rel_err(run(*acc_data, min(bs, len(acc_data[0]))), ref)
            calls[m] = (lambda run=run: run(xs, ys, 1)) if m == "naive" else (lambda run=run: run(x, y, bs))
        except Exception as e:  # a peer that cannot serve this model: reported, not hidden
            errors[m] = f"{type(e).__name__}: {(str(e).splitlines() or [''])[0][:160]}"
            traceback.print_exc(limit=3)
    for m, fn in calls.items():  # warm-up run, which also gives the peak memory
        peaks[m] = peak_rss_during(fn)
    times: dict[str, list[float]] = {m: [] for m in calls}
    for _ in range(s.rounds):
        for m in times:
            t = time.perf_counter()
            calls[m]()
            times[m].append(time.perf_counter() - t)
    scale = {"naive": n / len(xs)}
    best = {m: min(v) * scale.get(m, 1.0) for m, v in times.items()}
    rows = []
    for m in METHODS:
        row = {"model": name, "input": "×".join(map(str, shape)), "batch": bs, "method": m, "samples": n}
        if m in errors:
            row.update(seconds=None, vs_plain=None, vs_ours=None, peak_mb=None, rel_err=None, error=errors[m])
        else:
            row.update(seconds=round(best[m], 4), vs_plain=round(best[m] / best["plain"], 2),
                       vs_ours=round(best[m] / best["ours"], 2) if "ours" in best else None,
                       peak_mb=round(peaks[m], 1), rel_err=float(f"{errs[m]:.2e}"),
                       spread=round(max(times[m]) / min(times[m]), 2))
        rows.append(row)
        print(json.dumps(row), flush=True)
    rows.append({"model": name, "input": "×".join(map(str, shape)), "batch": bs, "method": "plain", "samples": n,
                 "seconds": round(best["plain"], 4), "peak_mb": round(peaks["plain"], 1),
                 "spread": round(max(times["plain"]) / min(times["plain"]), 2)})
    return rows


def reference(name: str, shape, s: Settings):
    """Float64 one-sample-loop Fisher on the accuracy subset, and that subset in float32."""
    g = torch.Generator().manual_seed(2)
    x = torch.randn(s.accuracy_samples, *shape, generator=g)
    y = torch.randint(0, CLASSES, (s.accuracy_samples,), generator=g)
    ref = naive_fisher(_model(name, shape).double(), x.double(), y)
    return ref, (x, y)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer samples and rounds (under 5 minutes on 2 cores)")
    ap.add_argument("--json", help="write {'rows': [...]} to this file")
    ap.add_argument("--rounds", type=int, help="interleaved rounds (default 3, quick 2)")
    a = ap.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(2)
    s = QUICK if a.quick else FULL
    if a.rounds:
        s = Settings(s.samples, a.rounds, s.naive_samples, s.accuracy_samples)
    t0 = time.perf_counter()
    rows = []
    for name, shape in CASES:
        ref, acc_data = reference(name, shape, s)
        for bs in BATCHES:
            rows += measure_case(name, shape, bs, s, ref, acc_data)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"rows": [r for r in rows if r["method"] != "plain"], "plain": [r for r in rows if r["method"] == "plain"],
                       "settings": {"quick": a.quick, "rounds": s.rounds, "samples": s.samples,
                                    "naive_samples": s.naive_samples, "accuracy_samples": s.accuracy_samples},
                       "machine": common.machine(), "seconds": round(time.perf_counter() - t0, 1)}, f, indent=2)
    if not a.quick:
        write_results(rows, s)
    print(f"done in {time.perf_counter() - t0:.0f} s", file=sys.stderr)


def write_results(rows: list[dict], s: Settings) -> None:
    from common import machine, write_section

    lines = ["## Fisher diagonal against peer libraries (`bench/fisher_peers.py`)", "",
             f"Command: `.venv/bin/python bench/fisher_peers.py` — {machine()}. Best of {s.rounds} interleaved rounds "
             f"(spread = slowest ÷ fastest round); samples {s.samples}; naive loop timed on {s.naive_samples} samples "
             f"and scaled; rel. error against a float64 one-sample loop on {s.accuracy_samples} samples.", "",
             "| model | input | batch | method | s | ÷ plain | ÷ ours | peak extra MiB | rel. error | spread |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    fmt = lambda v, suffix="": "—" if v is None else f"{v}{suffix}"  # noqa: E731
    for r in rows:
        if r["method"] == "plain":
            lines.append(f"| {r['model']} | {r['input']} | {r['batch']} | *plain fwd+bwd* | {r['seconds']} | 1× | | "
                         f"{r['peak_mb']} | | {r['spread']} |")
        elif r.get("error"):
            lines.append(f"| {r['model']} | {r['input']} | {r['batch']} | {r['method']} | failed: {r['error']} | | | | | |")
        else:
            lines.append(f"| {r['model']} | {r['input']} | {r['batch']} | {r['method']} | {r['seconds']} | "
                         f"{fmt(r['vs_plain'], '×')} | {fmt(r['vs_ours'], '×')} | {r['peak_mb']} | {r['rel_err']:.1e} | "
                         f"{r['spread']} |")
    write_section("fisher_peers", "\n".join(lines))


if __name__ == "__main__":
    main()
