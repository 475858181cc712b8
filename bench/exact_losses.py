"""Exact losses against PyTorch's plain ones (issue 18), in one process: every training method that has a
`loss` option runs twice on the same checkpoint and forget set, once with `loss=exact` (the default) and once
with `loss=plain`, and the table shows which rows moved and by how much (Acc(Df), retained-class or overall
Acc(test), ΔMIA against the one gold model both share).

    .venv/bin/python bench/exact_losses.py [--only digits|mnist] [--seeds 3]

NegGrad+ is also run over several seeds, since the issue measured it forgetting or not depending on the seed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from dataclasses import fields
from pathlib import Path

from common import machine, write_section
from unlearn import SPECS, checkpoints

from core.compare import run_compare
from core.methods import METHODS
from core.store import RunStore


def loss_methods() -> list[str]:
    """Methods whose config has a `loss` option (the training loops the exact form reaches)."""
    return [n for n, m in METHODS.items() if any(f.name == "loss" for f in fields(m.config))]


def row(x: dict) -> dict:
    test = x.get("acc_test_retained_classes") or x["acc_test"]
    return {"acc_forget": x["acc_forget"], "acc_test": test, "delta_mia": x["delta_mia"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--only", choices=["digits", "mnist"])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--seeds", type=int, default=3, help="NegGrad+ seeds per loss form")
    ap.add_argument("--json", help="also write the rows as JSON")
    a = ap.parse_args()
    names = loss_methods()
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for data, (ckpt, ds) in checkpoints(work, a.only, a.device).items():
            for label, spec in SPECS.items():
                store = RunStore(work / f"home-{data}-{label.replace(' ', '_').replace('%', '')}")
                runnable = [n for n in names if spec.kind in METHODS[n].forget_kinds]
                by_form = {}
                for form in ("exact", "plain"):
                    configs = {n: METHODS[n].config(loss=form) for n in runnable}
                    r = run_compare(ckpt, spec, ",".join(runnable), configs, device=a.device, store=store, dataset=ds,
                                    reuse=False)
                    by_form[form] = {x["method"]: row(x) for x in r["rows"] if "error" not in x}
                seeds = {}
                if "neggrad_plus" in runnable:
                    for form in ("exact", "plain"):
                        seeds[form] = []
                        for s in range(a.seeds):
                            cfg = METHODS["neggrad_plus"].config(loss=form, seed=s)
                            r = run_compare(ckpt, spec, "neggrad_plus", {"neggrad_plus": cfg}, device=a.device,
                                            store=store, dataset=ds, reuse=False)
                            seeds[form].append(r["rows"][0]["acc_forget"])
                out.append({"dataset": data, "forget": label, "rows": by_form, "neggrad_seeds": seeds,
                            "gold_acc_forget": r["gold"]["acc_forget"]})
                print(json.dumps(out[-1]), flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=2))
    lines = ["## Exact losses against PyTorch's plain form (`bench/exact_losses.py`)", "",
             f"Command: `.venv/bin/python bench/exact_losses.py --seeds {a.seeds}` — {machine()}. Every method with a "
             "`loss` option, run with `loss=exact` (the default) and `loss=plain` on the same checkpoint, forget set "
             "and gold model. Acc(test) is over the retained classes when a class is forgotten. Δ = exact − plain, "
             "in points.", "",
             "| dataset | forget | method | Acc(Df) exact / plain | Δ | Acc(test) exact / plain | Δ | ΔMIA exact / plain |",
             "|---|---|---|---|---|---|---|---|"]
    pct = lambda v: f"{100 * v:.2f}"  # noqa: E731
    for res in out:
        for m, e in res["rows"]["exact"].items():
            p = res["rows"]["plain"].get(m)
            if p is None:
                continue
            lines.append(f"| {res['dataset']} | {res['forget']} | {m} | {pct(e['acc_forget'])} / {pct(p['acc_forget'])} | "
                         f"{100 * (e['acc_forget'] - p['acc_forget']):+.2f} | {pct(e['acc_test'])} / {pct(p['acc_test'])} | "
                         f"{100 * (e['acc_test'] - p['acc_test']):+.2f} | {100 * e['delta_mia']:+.2f} / "
                         f"{100 * p['delta_mia']:+.2f} |")
    lines.append("")
    for res in out:
        s = res["neggrad_seeds"]
        if s:
            lines.append(f"- NegGrad+ on {res['dataset']}, {res['forget']}, seeds 0–{a.seeds - 1}: Acc(Df) exact "
                         f"{', '.join(pct(v) for v in s['exact'])} (spread {100 * (max(s['exact']) - min(s['exact'])):.2f} "
                         f"pts); plain {', '.join(pct(v) for v in s['plain'])} (spread "
                         f"{100 * (max(s['plain']) - min(s['plain'])):.2f} pts); gold {pct(res['gold_acc_forget'])}; median "
                         f"exact {pct(statistics.median(s['exact']))}, plain {pct(statistics.median(s['plain']))}.")
    write_section("exact-losses", "\n".join(lines))


if __name__ == "__main__":
    main()
