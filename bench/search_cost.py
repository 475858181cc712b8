"""What automatic γ's search costs against gold retraining, part by part (CPU).

    .venv/bin/python bench/search_cost.py [--only digits|mnist] [--rounds 3]

For class 0 of the shipped digits checkpoint and of the MNIST benchmark model (see `bench/unlearn.py`), in
one process and interleaved rounds (best of N): gold retraining, DeepClean at the paper's γ, one audit of a
model on half A of the reference set (what each candidate of the search costs beyond its reset or its
fine-tuning), and DeepClean with automatic γ, with the number of candidates it tried. The floor is DeepClean
plus the fewest audits any audited search needs (two: one probe and the fine-tuned choice), the least an
automatic γ that checks its choice can cost; the issue's bar is 0.35× gold.
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
from pathlib import Path

from common import machine, write_section
from unlearn import checkpoints

from core.forget import ForgetSpec
from core.methods import get_method, reference_method
from core.methods.base import ImportanceCache
from core.prepare import prepare

BAR = 0.35
MIN_AUDITS = 2  # one probe, and the fine-tuned choice


def timed(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--only", choices=["digits", "mnist"])
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    deepclean, reference = get_method("deepclean"), reference_method()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, (ckpt, ds) in checkpoints(Path(tmp), a.only, "cpu").items():
            prep = prepare(ckpt, ForgetSpec.of_classes([0]), device="cpu", dataset=ds)
            task, model = prep.task, prep.model
            task.auditor(model)  # the original model's views, computed once per task as in a run
            best = {"gold": [], "deepclean": [], "audit": [], "auto": []}
            tried = 0
            for _ in range(a.rounds):  # interleaved, so a busy moment hits every part alike
                best["gold"].append(timed(lambda: reference.run(None, copy.copy(task), reference.config()))[0])
                task.importance = ImportanceCache()  # each run pays for its Fisher pass, as a real run does
                best["deepclean"].append(timed(lambda: deepclean.run(copy.deepcopy(model), task,
                                                                     deepclean.config(gamma=2.0)))[0])
                best["audit"].append(timed(lambda: task.auditor(model))[0])
                task.importance = ImportanceCache()
                s, (_, info) = timed(lambda: deepclean.run(copy.deepcopy(model), task, deepclean.config(gamma="auto")))
                best["auto"].append(s)
                tried = len(info["gamma_search"]["tried"])
            t = {k: min(v) for k, v in best.items()}
            rows.append({"dataset": name, **t, "tried": tried,
                         "floor": (t["deepclean"] + MIN_AUDITS * t["audit"]) / t["gold"]})
            print(rows[-1], flush=True)
    lines = ["## What automatic γ's search costs (`bench/search_cost.py`)", "",
             f"Command: `.venv/bin/python bench/search_cost.py --rounds {a.rounds}` — {machine()}. Class 0; best of "
             f"{a.rounds} interleaved rounds in one process. *Audit*: one candidate's audit on half A (views of Df, "
             "Dr, the reference and the test split, the entropy attacker, bootstrap intervals). *Floor*: DeepClean "
             f"at γ = 2 plus {MIN_AUDITS} audits (one probe and the fine-tuned choice), ÷ gold — the least any "
             f"search that checks its choice can cost. Bar: ≤ {BAR}× gold.", "",
             "| dataset | gold s | DeepClean γ=2 s | ÷ gold | one audit s | ÷ gold | auto s | candidates tried | auto ÷ gold | floor ÷ gold |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        g = r["gold"]
        lines.append(f"| {r['dataset']} | {g:.3f} | {r['deepclean']:.3f} | {r['deepclean'] / g:.2f} | {r['audit']:.3f} | "
                     f"{r['audit'] / g:.2f} | {r['auto']:.3f} | {r['tried']} | {r['auto'] / g:.2f} | {r['floor']:.2f} |")
    write_section("search_cost", "\n".join(lines))


if __name__ == "__main__":
    main()
