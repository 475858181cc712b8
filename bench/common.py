"""Helpers shared by the benchmarks: timing, peak memory in a child process, the MNIST benchmark split."""

from __future__ import annotations

import gzip
import struct
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MNIST_DIR = ROOT.parent / "shared" / "data" / "mnist"
MNIST_TRAIN = 8000  # the benchmark's fixed split of the 10,000 MNIST test images
SPLIT_SEED = 0


def best_of(fn, repeat: int = 3) -> float:
    """Fastest wall time of `repeat` calls (the least disturbed by a noisy machine)."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def mnist_benchmark_npz(out: Path) -> Path:
    """Write the MNIST benchmark (8,000 train / 2,000 test, fixed seeded stratified split) as an npz."""
    from sklearn.model_selection import train_test_split

    x = _read_idx(MNIST_DIR / "t10k-images-idx3-ubyte.gz")
    y = _read_idx(MNIST_DIR / "t10k-labels-idx1-ubyte.gz").astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, train_size=MNIST_TRAIN, random_state=SPLIT_SEED, stratify=y)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, x=x_tr, y=y_tr, x_test=x_te, y_test=y_te)
    return out


def peak_rss_during(fn) -> float:
    """Extra resident memory (MiB) at the peak of `fn()` over the RSS before it, sampled every 2 ms."""
    import os
    import threading

    page = os.sysconf("SC_PAGE_SIZE")

    def rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * page

    base, peak, stop = rss(), [0], threading.Event()

    def watch() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], rss())
            stop.wait(0.002)

    t = threading.Thread(target=watch)
    t.start()
    try:
        fn()
    finally:
        stop.set()
        t.join()
    return max(0, max(peak[0], rss()) - base) / 2**20


RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def write_section(name: str, markdown: str) -> None:
    """Replace (or append) the section between `<!-- name:start -->` and `<!-- name:end -->` in RESULTS.md."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n\nEach section is written by the script it names.\n"
    block = f"{start}\n{markdown.rstrip()}\n{end}"
    if start in text and end in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    RESULTS.write_text(text)


def machine() -> str:
    import platform

    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}, {gpu}"
