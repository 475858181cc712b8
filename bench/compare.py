"""Every unlearning method side by side against gold, on digits and on the MNIST benchmark (CPU or GPU).

    .venv/bin/python bench/compare.py [--only digits|mnist] [--device auto] [--json FILE]

Same datasets and forget sets as bench/unlearn.py (class 0; random 10%, seed 0), each method with its
defaults, a fresh run store (nothing cached), one gold model and one Fisher pass shared per forget set.
Times are each method's cost run alone (a Fisher pass another method paid for is added back).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from common import machine, write_section
from unlearn import SPECS, checkpoints

from core.compare import run_compare
from core.methods import DEFAULT_METHOD, reference_method
from core.store import RunStore


def both(a: bool | None, b: bool | None) -> bool | None:
    """Two checks together: a miss if either misses, open if either is open, else a pass."""
    return False if a is False or b is False else (None if a is None or b is None else True)


def matches(row: dict) -> tuple[bool | None, bool | None]:
    """(accuracies match gold, MIA matches too) for one row, from its verdict with intervals (core/verdict.py):
    True, False, or None where a 95% interval straddles its bar."""
    v = row["verdict"]
    acc = both(v["forgotten"]["passed"], v["kept"]["passed"])
    return acc, both(acc, v["private"]["passed"])


WORD = {True: "yes", False: "no", None: "open"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--only", choices=["digits", "mnist"])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--json", help="also write every comparison as JSON")
    a = ap.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name, (ckpt, ds) in checkpoints(work, a.only, a.device).items():
            for label, spec in SPECS.items():
                store = RunStore(work / f"home-{name}-{label.replace(' ', '_').replace('%', '')}")
                r = run_compare(ckpt, spec, "all", device=a.device, store=store, dataset=ds, reuse=False)
                r["bench"] = {"dataset": name, "forget": label}
                results.append(r)
                print(json.dumps({"dataset": name, "forget": label,
                                  "rows": [(x["method"], x.get("acc_test"), x.get("seconds")) for x in r["rows"]]}),
                      flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=2, default=str))
    lines = ["## All methods against gold (`bench/compare.py`)", "",
             f"Command: `.venv/bin/python bench/compare.py` — {machine()}. Each method with its defaults "
             "(`python -m core methods`); time = the method alone, ÷ gold = that over gold retraining. "
             "Acc(test) for a class is over all test classes, (ret.) over the retained ones. "
             "\"match\": Acc(Df) and Acc(test) (retained classes when forgetting class 0) within 2 points of gold's "
             "(3 for Acc(Df) on random 10%); "
             "\"+MIA\": and |ΔMIA| ≤ 5 points. Judged as the verdict judges, with 95% paired bootstrap intervals: "
             "*open* where an interval straddles its bar (too few samples to tell).", ""]
    for r in results:
        b, gold = r["bench"], r["gold"]
        lines += [f"### {b['dataset']}, {b['forget']} (gold: Acc(Df) {100 * gold['acc_forget']:.2f}, "
                  f"Acc(test) {100 * gold['acc_test']:.2f}, MIA {100 * gold['mia_forget']:.2f}, "
                  f"{r['gold_run']['seconds']:.2f} s)", "",
                  "| method | Acc(Dr) | Acc(Df) | Acc(test) | Acc(test, ret.) | ΔAcc(Df) | ΔMIA | loss AUC | JS→gold | time s | ÷ gold | match | +MIA |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        dc = None
        for x in r["rows"]:
            if "error" in x:
                lines.append(f"| {x['method']} | failed: {x['error']} |" + " |" * 11)
                continue
            acc, mia = matches(x)
            ret = x.get("acc_test_retained_classes")
            lines.append(
                f"| {x['method']} | {100 * x['acc_retain']:.2f} | {100 * x['acc_forget']:.2f} | {100 * x['acc_test']:.2f} | "
                f"{'—' if ret is None else f'{100 * ret:.2f}'} | {100 * x['delta_acc_forget']:+.2f} | "
                f"{100 * x['delta_mia']:+.2f} | {x['loss_auc']:.3f} | {x['js_to_gold']:.4f} | {x['seconds']:.2f} | "
                f"{x['time_vs_gold']:.3f} | {WORD[acc]} | {WORD[mia]} |")
            if x["method"] == DEFAULT_METHOD:
                dc = (x, acc)
        if dc is not None:
            faster = [x["method"] for x in r["rows"] if "error" not in x
                      and x["method"] not in (DEFAULT_METHOD, reference_method().name)
                      and matches(x)[0] is True and x["seconds"] < dc[0]["seconds"]]
            lines += ["", f"DeepClean matches gold's accuracies: {WORD[dc[1]]}; methods that match too "
                          f"and ran faster: {', '.join(faster) if faster else 'none'}."]
        skipped = ", ".join(f"{s['method']} ({s['reason']})" for s in r["skipped"])
        lines += ([f"Skipped: {skipped}."] if skipped else []) + [""]
    write_section("compare" if a.only is None else f"compare-{a.only}", "\n".join(lines).rstrip())


if __name__ == "__main__":
    main()
