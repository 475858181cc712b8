"""Fisher diagonal speed and memory, as ratios measured in one process (CPU).

    .venv/bin/python bench/fisher.py [--json FILE]

Ratios: fast Fisher ÷ one plain forward+backward pass over the same samples and batch size (the bar is
≤ 1.6×), naive one-sample loop ÷ fast Fisher (the bar is ≥ 4×); and the extra peak memory of the fast
Fisher for N and 4N samples (it should not grow with N).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp

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
]


def _setup(name, shape, n):
    torch.manual_seed(0)
    model = build_model(name, shape, 10).eval()
    return model, TensorDataset(torch.randn(n, *shape), torch.randint(0, 10, (n,)))


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


def _peak_child(name, shape, n, batch_size, q):
    from common import peak_rss_during

    torch.set_num_threads(2)
    model, data = _setup(name, shape, n)
    fisher_diagonal(model, TensorDataset(*(t[:batch_size] for t in data.tensors)), batch_size=batch_size)  # warm-up
    q.put(peak_rss_during(lambda: fisher_diagonal(model, data, batch_size=batch_size)))


def extra_peak_mib(name, shape, n, batch_size) -> float:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_peak_child, args=(name, shape, n, batch_size, q))
    p.start()
    value = q.get()
    p.join()
    return value


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--json", help="write the figures to this file")
    a = ap.parse_args()
    torch.set_num_threads(2)
    from common import best_of

    rows = []
    for name, shape, n, bs, n_naive in CASES:
        model, data = _setup(name, shape, n)
        fisher_diagonal(model, TensorDataset(*(t[:bs] for t in data.tensors)), batch_size=bs)  # warm-up
        t_plain = best_of(lambda: plain_pass(model, data, bs))
        t_fast = best_of(lambda: fisher_diagonal(model, data, batch_size=bs))
        small = TensorDataset(*(t[:n_naive] for t in data.tensors))
        t_naive = best_of(lambda: naive_loop(model, small), repeat=1) * n / n_naive
        mem_n = extra_peak_mib(name, shape, n, bs)
        mem_4n = extra_peak_mib(name, shape, 4 * n, bs)
        rows.append({"model": name, "input": "×".join(map(str, shape)), "samples": n, "batch": bs,
                     "plain_s": round(t_plain, 3), "fisher_s": round(t_fast, 3),
                     "fisher_vs_plain": round(t_fast / t_plain, 2), "naive_vs_fisher": round(t_naive / t_fast, 1),
                     "extra_peak_mib_n": round(mem_n, 1), "extra_peak_mib_4n": round(mem_4n, 1)})
        print(json.dumps(rows[-1]), flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=2)
    from common import machine, write_section

    lines = ["## Fisher diagonal (`bench/fisher.py`)", "",
             f"Command: `.venv/bin/python bench/fisher.py` — {machine()}. Best of 3; naive loop extrapolated from a subset.", "",
             "| model | input | samples | batch | plain fwd+bwd s | Fisher s | Fisher ÷ plain | naive ÷ Fisher | extra peak MiB (N) | extra peak MiB (4N) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['input']} | {r['samples']} | {r['batch']} | {r['plain_s']} | {r['fisher_s']} | "
                     f"{r['fisher_vs_plain']}× | {r['naive_vs_fisher']}× | {r['extra_peak_mib_n']} | {r['extra_peak_mib_4n']} |")
    write_section("fisher", "\n".join(lines))


if __name__ == "__main__":
    main()
