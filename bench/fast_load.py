"""Is the *fast* verdict the same on an idle and on a busy machine? (CPU)

    .venv/bin/python bench/fast_load.py [--repeats 3] [--gamma auto]

Runs DeepClean on the shipped digits checkpoint (class 0) with gold read from the cache, alternately with the
machine as it is and with both cores kept busy by two processes doing a training loop of their own. It
reports the method's time, retraining's cost as estimated in the same job, their ratio (what the fast checks
judge) and the ratio against gold's cached training time (what they judged before), with each one's verdict.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import tempfile
import time
from pathlib import Path

from common import machine, write_section

from core.forget import ForgetSpec
from core.methods import DEFAULT_METHOD
from core.methods.deepclean import DeepCleanConfig
from core.paths import CHECKPOINT_DIR
from core.store import RunStore
from core.unlearn import run_unlearn
from core.verdict import Tolerances

BAR = Tolerances().time_vs_gold


def burn(stop) -> None:
    """Keep one core busy with a small training loop until told to stop."""
    import torch

    torch.set_num_threads(1)
    net = torch.nn.Sequential(torch.nn.Linear(256, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    x, y = torch.randn(256, 256), torch.randint(0, 10, (256,))
    while not stop.is_set():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()


def run_once(store: RunStore, gamma) -> dict:
    r = run_unlearn(CHECKPOINT_DIR / "digits_cnn_small.safetensors", ForgetSpec.of_classes([0]), DEFAULT_METHOD,
                    DeepCleanConfig(gamma=gamma), store=store, device="cpu")
    return {"seconds": r.seconds, "retrain": r.retrain_seconds, "vs_retrain": r.time_vs_retrain,
            "vs_gold": r.time_vs_gold, "gold_seconds": r.gold.seconds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--gamma", default="auto", help="'auto' or a number")
    a = ap.parse_args()
    gamma = a.gamma if a.gamma == "auto" else float(a.gamma)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        store = RunStore(Path(tmp) / "home")
        run_once(store, gamma)  # trains and caches gold (as it is, now); later runs read its cached time
        for k in range(a.repeats):
            for busy in (False, True):
                stop = mp.Event()
                hogs = [mp.Process(target=burn, args=(stop,)) for _ in range(2 if busy else 0)]
                for h in hogs:
                    h.start()
                time.sleep(1.0 if busy else 0.0)
                try:
                    rows.append({"busy": busy, **run_once(store, gamma)})
                finally:
                    stop.set()
                    for h in hogs:
                        h.join()
                print(rows[-1], flush=True)
    lines = ["## The fast verdict on an idle and a busy machine (`bench/fast_load.py`)", "",
             f"Command: `.venv/bin/python bench/fast_load.py --repeats {a.repeats} --gamma {a.gamma}` — {machine()}. "
             "DeepClean on digits class 0, gold read from the cache (trained once at the start). Busy: two "
             "processes keep both cores training a model of their own. Bar: ≤ "
             f"{BAR:g}×.", "",
             "| machine | method s | retraining estimate s | ÷ estimate | verdict | ÷ cached gold | verdict then |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {'both cores busy' if r['busy'] else 'as it is'} | {r['seconds']:.2f} | {r['retrain']:.2f} | "
                     f"{r['vs_retrain']:.3f} | {'pass' if r['vs_retrain'] <= BAR else 'miss'} | {r['vs_gold']:.3f} | "
                     f"{'pass' if r['vs_gold'] <= BAR else 'miss'} |")
    for busy in (False, True):
        sel = [r for r in rows if r["busy"] == busy]
        lines.append(f"\n{'Busy' if busy else 'As it is'}: median ÷ estimate {statistics.median(r['vs_retrain'] for r in sel):.3f}, "
                     f"median ÷ cached gold {statistics.median(r['vs_gold'] for r in sel):.3f}.")
    write_section("fast-load", "\n".join(lines))


if __name__ == "__main__":
    main()
