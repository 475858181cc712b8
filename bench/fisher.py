"""Fisher diagonal speed and memory, as ratios measured in one process (CPU).

    .venv/bin/python bench/fisher.py [--json FILE] [--models NAME,NAME]

Ratios: fast Fisher ÷ one plain forward+backward pass over the same samples and batch size, and naive
one-sample loop ÷ fast Fisher (the loop timed on a subset and scaled). Peak memory: the extra resident
memory at the peak of the Fisher for N and 4N samples, each in a fresh process (it should not grow with
N), beside the peak of one plain forward+backward pass at the same batch size. Rounds interleave the plain
pass and the Fisher; best of 3, spread = slowest ÷ fastest round.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import time

import common  # noqa: F401  (puts the repository on sys.path)
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from core.fisher import fisher_diagonal
from core.models import build_model
from core.runtime import iter_batches

CASES = [  # (model, input shape, samples, batch size, samples for the naive loop)
    ("cnn_small", (3, 32, 32), 2048, 128, 128),
    ("resnet18", (3, 32, 32), 256, 64, 32),
    ("vit_mini", (3, 32, 32), 1024, 128, 64),
    ("torchvision.mobilenet_v3_small", (3, 224, 224), 128, 64, 16),
    ("torchvision.convnext_tiny", (3, 224, 224), 64, 32, 4),
    ("torchvision.vit_b_16", (3, 224, 224), 32, 32, 2),
]
ROUNDS = 3
CLASSES = 10
WARMUP_SAMPLES = 2


def _setup(name, shape, n):
    torch.manual_seed(0)
    model = build_model(name, shape, CLASSES).eval()
    g = torch.Generator().manual_seed(1)
    return model, TensorDataset(torch.randn(n, *shape, generator=g), torch.randint(0, CLASSES, (n,), generator=g))


def plain_pass(model, data, batch_size):
    for x, y in iter_batches(data, batch_size):
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()


def naive_loop(model, data):
    x, y = data.tensors
    sums = [torch.zeros_like(p) for p in model.parameters()]
    for i in range(len(x)):
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(x[i:i + 1]), y[i:i + 1]).backward()
        for p, acc in zip(model.parameters(), sums):
            acc.addcmul_(p.grad, p.grad)


def _peak_child(name, shape, n, batch_size, what, q):
    from common import peak_rss_during

    torch.set_num_threads(2)
    model, data = _setup(name, shape, n)
    first = TensorDataset(*(t[:batch_size] for t in data.tensors))
    tiny = TensorDataset(*(t[:WARMUP_SAMPLES] for t in data.tensors))
    if what == "plain":
        plain_pass(model, tiny, batch_size)  # warm-up: lazy initialisation outside the measured peak
        model.zero_grad(set_to_none=True)
        q.put(peak_rss_during(lambda: plain_pass(model, first, batch_size)))
    else:
        fisher_diagonal(model, tiny, batch_size=batch_size)
        q.put(peak_rss_during(lambda: fisher_diagonal(model, data, batch_size=batch_size)))


def extra_peak_mib(name, shape, n, batch_size, what="fisher") -> float:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_peak_child, args=(name, shape, n, batch_size, what, q))
    p.start()
    value = q.get()
    p.join()
    return value


def _release_memory() -> None:
    """Return freed heap memory to the system (glibc keeps it otherwise: 13 GB after ViT-B/16's rounds)."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:  # not glibc
        pass


def measure(name, shape, n, bs, n_naive) -> dict:
    model, data = _setup(name, shape, n)
    tiny = TensorDataset(*(t[:WARMUP_SAMPLES] for t in data.tensors))
    fisher_diagonal(model, tiny, batch_size=bs)  # warm-up (the first round is one too: best of ROUNDS is kept)
    plain_pass(model, tiny, bs)
    times = {"plain": [], "fisher": []}
    for _ in range(ROUNDS):
        for key, fn in (("plain", lambda: plain_pass(model, data, bs)),
                        ("fisher", lambda: fisher_diagonal(model, data, batch_size=bs))):
            t = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - t)
    t_plain, t_fast = min(times["plain"]), min(times["fisher"])
    small = TensorDataset(*(t[:n_naive] for t in data.tensors))
    t_naive = common.best_of(lambda: naive_loop(model, small), repeat=1) * n / n_naive
    params = sum(p.numel() for p in model.parameters())
    del model, data, small, tiny
    _release_memory()  # the children measure peaks: the parent must not sit on ViT-B/16's freed activations
    return {"model": name, "input": "×".join(map(str, shape)), "samples": n, "batch": bs,
            "parameters": params,
            "plain_s": round(t_plain, 3), "fisher_s": round(t_fast, 3), "fisher_vs_plain": round(t_fast / t_plain, 2),
            "spread_plain": round(max(times["plain"]) / t_plain, 2),
            "spread_fisher": round(max(times["fisher"]) / t_fast, 2),
            "naive_vs_fisher": round(t_naive / t_fast, 1),
            "plain_peak_mib": round(extra_peak_mib(name, shape, n, bs, "plain"), 1),
            "extra_peak_mib_n": round(extra_peak_mib(name, shape, n, bs), 1),
            "extra_peak_mib_4n": round(extra_peak_mib(name, shape, 4 * n, bs), 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", help="write the figures to this file")
    ap.add_argument("--models", help="comma-separated subset of the models (default: all)")
    a = ap.parse_args()
    torch.set_num_threads(2)
    wanted = set(a.models.split(",")) if a.models else None
    rows = []
    for name, shape, n, bs, n_naive in CASES:
        if wanted is None or name in wanted:
            rows.append(measure(name, shape, n, bs, n_naive))
            print(json.dumps(rows[-1]), flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=2)
    if wanted is None:
        write_results(rows)


def write_results(rows: list[dict]) -> None:
    from common import machine, write_section

    lines = ["## Fisher diagonal (`bench/fisher.py`)", "",
             f"Command: `.venv/bin/python bench/fisher.py` — {machine()}. Best of {ROUNDS} interleaved rounds (spread = "
             f"slowest ÷ fastest round); naive loop timed on a subset and scaled; peak memory in a fresh process each.", "",
             "| model | input | params | samples | batch | plain fwd+bwd s | Fisher s | Fisher ÷ plain | spread plain / Fisher | "
             "naive ÷ Fisher | plain peak MiB | Fisher extra peak MiB (N) | (4N) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['input']} | {r['parameters'] / 1e6:.2f} M | {r['samples']} | {r['batch']} | "
                     f"{r['plain_s']} | {r['fisher_s']} | {r['fisher_vs_plain']}× | {r['spread_plain']} / {r['spread_fisher']} | "
                     f"{r['naive_vs_fisher']}× | {r['plain_peak_mib']} | {r['extra_peak_mib_n']} | {r['extra_peak_mib_4n']} |")
    write_section("fisher", "\n".join(lines))


if __name__ == "__main__":
    main()
