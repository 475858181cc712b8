"""How far the gold-free audit agrees with the gold-based verdict (CPU or GPU).

    .venv/bin/python bench/audit.py [--seeds 10] [--only seeds|methods] [--device auto] [--json FILE]

Cases: DeepClean at γ ∈ {1, 2} on ten digits checkpoints trained with the shipped recipe (seeds 0..N-1) for
class 0 and a random 10%; and every registered method with its defaults on the shipped digits checkpoint and
the MNIST benchmark (../shared/data/mnist), class 0 and a random 10% — as bench/compare.py runs them. For each
of forgotten, private and kept: a confusion table of the audit's status (pass / miss / open) against the
gold-based one, the share of cases where they agree, and, where they do not, which side's interval left it
open and which contradict (one passes, the other misses).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections import Counter
from pathlib import Path

from common import machine, write_section
from unlearn import SPECS, checkpoints

from core.compare import run_compare
from core.data import load_dataset
from core.forget import ForgetSpec
from core.gold import gold_model
from core.methods import DEFAULT_METHOD
from core.methods.deepclean import DeepCleanConfig
from core.prepare import prepare
from core.result import UnlearnResult
from core.store import RunStore
from core.train import TrainConfig
from core.train_run import train_checkpoint
from core.unlearn import run_unlearn

CHECKS = ("forgotten", "private", "kept")
STATUSES = ("pass", "miss", "inconclusive")


def statuses(r: UnlearnResult) -> dict[str, dict[str, str]]:
    gold = {c.name: c.status for c in r.verdict}
    audit = {c.name: c.status for c in r.audit.checks}
    return {name: {"gold": gold[name], "audit": audit[name]} for name in CHECKS}


def case(r: UnlearnResult, **where) -> dict:
    u = r.unlearned
    return {**where, "method": r.method, "gamma": r.config.get("gamma"), "checks": statuses(r),
            "acc_forget": u.acc_forget, "mia": u.mia_forget, "gold_mia": r.gold.mia_forget,
            "audit_figures": {k: v.value for k, v in r.audit.figures.items()}}


def seed_cases(n: int, device: str, work: Path) -> list[dict]:
    ds = load_dataset("digits")
    out = []
    for seed in range(n):
        ckpt = work / f"digits_seed{seed}.safetensors"
        train_checkpoint(ds, "cnn_small", TrainConfig(seed=seed), ckpt.with_suffix(""), device=device)
        for label, spec in (("class 0", ForgetSpec.of_classes([0])), ("random 10%", ForgetSpec.random(fraction=0.1))):
            prep = prepare(ckpt, spec, device=device, dataset=ds)
            gold = gold_model(prep, None)
            for gamma in (1.0, 2.0):
                r = run_unlearn(ckpt, spec, DEFAULT_METHOD, DeepCleanConfig(gamma=gamma), prepared=prep, gold=gold)
                out.append(case(r, part="seeds", dataset="digits", seed=seed, forget=label))
                print(json.dumps(out[-1]["checks"]), seed, label, gamma, flush=True)
    return out


def method_cases(device: str, work: Path) -> list[dict]:
    out = []
    for name, (ckpt, ds) in checkpoints(work, None, device).items():
        for label, spec in SPECS.items():
            store = RunStore(work / f"home-{name}-{label.replace(' ', '_').replace('%', '')}")
            comparison = run_compare(ckpt, spec, "all", device=device, store=store, dataset=ds, reuse=False)
            for row in comparison["rows"]:
                if "error" in row or row["run_id"] is None:
                    continue
                from core.queries import load_result

                r = load_result(store, row["run_id"])
                out.append(case(r, part="methods", dataset=name, seed=None, forget=label))
                print(json.dumps(out[-1]["checks"]), name, label, r.method, flush=True)
    return out


def summary(cases: list[dict]) -> list[str]:
    lines = []
    for check in CHECKS:
        pairs = Counter((c["checks"][check]["gold"], c["checks"][check]["audit"]) for c in cases)
        agree = sum(v for (g, a), v in pairs.items() if g == a)
        contradict = sum(v for (g, a), v in pairs.items() if {g, a} == {"pass", "miss"})
        audit_open = sum(v for (g, a), v in pairs.items() if a == "inconclusive" and g != a)
        gold_open = sum(v for (g, a), v in pairs.items() if g == "inconclusive" and g != a)
        lines += [f"**{check}**: agree on {agree} of {len(cases)} ({100 * agree / len(cases):.0f}%); of the rest, "
                  f"{contradict} contradict (one passes, the other misses), {audit_open} are open in the audit only, "
                  f"{gold_open} open against gold only.", "",
                  "| gold \\ audit | " + " | ".join(STATUSES) + " |", "|---|---|---|---|"]
        for g in STATUSES:
            lines.append(f"| {g} | " + " | ".join(str(pairs.get((g, a), 0)) for a in STATUSES) + " |")
        lines.append("")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--only", choices=["seeds", "methods"])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--json", help="also write every case as JSON")
    a = ap.parse_args()
    cases = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if a.only in (None, "seeds"):
            cases += seed_cases(a.seeds, a.device, work)
        if a.only in (None, "methods"):
            cases += method_cases(a.device, work)
    if a.json:
        Path(a.json).write_text(json.dumps(cases, indent=2))
    lines = ["## The gold-free audit against the gold-based verdict (`bench/audit.py`)", "",
             f"Command: `.venv/bin/python bench/audit.py --seeds {a.seeds}"
             + (f" --only {a.only}" if a.only else "") + f"` — {machine()}. "
             "Each case is one unlearned model judged twice: against gold (paired differences with gold on Df and "
             "test) and without it (against unseen images of the same kind). A status is pass, miss, or "
             "inconclusive when the 95% interval straddles the bar.", ""]
    for part, title in (("seeds", f"DeepClean γ ∈ {{1, 2}} on {a.seeds} digits checkpoints × {{class 0, random 10%}}"),
                        ("methods", "every method on digits and the MNIST benchmark × {class 0, random 10%}"),
                        (None, "all cases")):
        sel = [c for c in cases if part is None or c["part"] == part]
        if sel:
            lines += [f"### {title} ({len(sel)} cases)", ""] + summary(sel)
    write_section("audit" if a.only is None else f"audit-{a.only}", "\n".join(lines).rstrip())


if __name__ == "__main__":
    main()
