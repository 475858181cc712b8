"""DeepClean's class-0 bars on digits across independently trained checkpoints (CPU or GPU).

    .venv/bin/python bench/seeds.py [--seeds 10] [--gammas 2.0,1.0,auto] [--device auto] [--json FILE]

The shipped checkpoint is seed 0 of the digits recipe. This trains the same recipe with seeds 0..N-1,
retrains gold without class 0 for each, runs DeepClean at each γ, and counts how many checkpoints meet
the bars, as core/verdict.py checks them (Acc(Df) and retained-class Acc(test) within 2 points of gold's,
|ΔMIA| ≤ 5 points, time at most 1/5 of retraining's), so one checkpoint's figures can be read against the
spread. `auto` is automatic γ (the search included in its time). A check whose 95% interval straddles its
bar is open: it is counted as neither a pass nor a miss.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from common import machine, write_section

from core import verdict as verdicts
from core.data import load_dataset
from core.forget import ForgetSpec
from core.gold import gold_model
from core.methods import DEFAULT_METHOD
from core.methods.deepclean import DeepCleanConfig
from core.prepare import prepare
from core.result import UnlearnResult
from core.train import TrainConfig
from core.train_run import train_checkpoint
from core.unlearn import run_unlearn

SPEC = ForgetSpec.of_classes([0])


def row_for(seed: int, gamma: float | str, r: UnlearnResult) -> dict:
    u, g = r.unlearned, r.gold
    checks = {c.name: c.passed for c in r.verdict}
    points = {c.name: c.passed for c in verdicts.checks(u, g, "classes", r.time_vs_gold)}
    return {"seed": seed, "gamma": gamma, "chosen": r.config["gamma"], "acc_forget": u.acc_forget,
            "acc_test": u.judged_test, "gold_acc_test": g.judged_test, "mia": u.mia_forget, "gold_mia": g.mia_forget,
            "delta_mia": r.deltas["mia"], "reset": r.weights_reset_fraction, "time_vs_gold": r.time_vs_gold,
            "time_vs_retrain": r.time_vs_retrain, "checks": checks,
            "audit": {c.name: c.passed for c in r.audit.checks},
            "three": all(checks[k] is True for k in ("forgotten", "kept", "private")),
            "three_points": all(points[k] for k in ("forgotten", "kept", "private")),
            "all_bars": all(v is True for v in checks.values())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--gammas", default="2.0,1.0,auto")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--json", help="also write the rows as JSON")
    a = ap.parse_args()
    gammas = [g if g == "auto" else float(g) for g in a.gammas.split(",")]
    ds = load_dataset("digits")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(a.seeds):
            ckpt = Path(tmp) / f"digits_seed{seed}.safetensors"
            train_checkpoint(ds, "cnn_small", TrainConfig(seed=seed), ckpt.with_suffix(""), device=a.device)
            prep = prepare(ckpt, SPEC, device=a.device, dataset=ds)
            gold = gold_model(prep, None)
            for gamma in gammas:
                r = run_unlearn(ckpt, SPEC, DEFAULT_METHOD, DeepCleanConfig(gamma=gamma), prepared=prep, gold=gold,
                                dataset=ds)
                rows.append(row_for(seed, gamma, r))
                print(json.dumps(rows[-1]), flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=2))
    pct = lambda v: f"{100 * v:.2f}"  # noqa: E731
    yes = lambda b: {True: "yes", False: "no", None: "open"}[b]  # noqa: E731
    lines = ["## DeepClean on digits class 0 across training seeds (`bench/seeds.py`)", "",
             f"Command: `.venv/bin/python bench/seeds.py --seeds {a.seeds} --gammas {a.gammas}` — {machine()}. "
             "Each seed trains the shipped digits recipe anew (seed 0 is the shipped checkpoint); gold is retrained "
             "without class 0 for each. Acc(test) is over the retained classes.", "",
             "| seed | γ | Acc(Df) | Acc(test) DC / gold | MIA DC / gold | ΔMIA pts | weights reset | time ÷ gold | "
             "forgotten | kept | private | fast | three | audit: forgotten / private / kept |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        c, au = r["checks"], r["audit"]
        shown = f"{r['gamma']}" if r["gamma"] != "auto" else f"auto → {r['chosen']:g}"
        lines.append(f"| {r['seed']} | {shown} | {pct(r['acc_forget'])} | {pct(r['acc_test'])} / {pct(r['gold_acc_test'])} | "
                     f"{pct(r['mia'])} / {pct(r['gold_mia'])} | {100 * r['delta_mia']:+.2f} | {pct(r['reset'])}% | "
                     f"{r['time_vs_gold']:.3f} | {yes(c['forgotten'])} | {yes(c['kept'])} | {yes(c['private'])} | "
                     f"{yes(c['fast'])} | {yes(r['three'])} | "
                     f"{yes(au['forgotten'])} / {yes(au['private'])} / {yes(au['kept'])} |")
    lines.append("")
    for gamma in gammas:
        sel = [r for r in rows if r["gamma"] == gamma]
        count = lambda k, v: sum(r["checks"][k] is v for r in sel)  # noqa: E731
        lines.append(f"- γ = {gamma}: forgotten, kept and private all pass against gold on {sum(r['three'] for r in sel)} "
                     f"of {len(sel)} checkpoints (every bar, fast included: {sum(r['all_bars'] for r in sel)}); "
                     f"private passes on {count('private', True)}, misses on {count('private', False)}, is open on "
                     f"{count('private', None)}; median |ΔMIA| {100 * statistics.median(abs(r['delta_mia']) for r in sel):.1f} "
                     f"points; median time ÷ gold {statistics.median(r['time_vs_gold'] for r in sel):.2f}. By point "
                     f"estimates alone (no intervals, the spec's bars): all three on "
                     f"{sum(r['three_points'] for r in sel)} of {len(sel)}.")
    write_section("seeds", "\n".join(lines))


if __name__ == "__main__":
    main()
