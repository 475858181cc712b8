"""DeepClean against gold retraining, end to end, on digits and on the MNIST benchmark (CPU or GPU).

    .venv/bin/python bench/unlearn.py [--only digits|mnist] [--gammas default,auto] [--device auto]

The MNIST benchmark is the real MNIST test set in ../shared/data/mnist, split 8,000 train / 2,000 test
(fixed seeded stratified split); a cnn_small is trained on it with the MNIST recipe first. For each
dataset and forget set (class 0; random 10%, seed 0) the gold model is retrained in this process (a
fresh run store, no cache), so "time ÷ gold" compares two runs on one machine at one time.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from common import MNIST_DIR, machine, mnist_benchmark_npz, write_section

from core.data import load_dataset
from core.data.mnist import RECIPE as MNIST_RECIPE
from core.forget import ForgetSpec
from core.gold import gold_model
from core.methods import DEFAULT_METHOD
from core.methods.deepclean import DeepCleanConfig
from core.prepare import prepare
from core.paths import CHECKPOINT_DIR
from core.store import RunStore
from core.train import TrainConfig
from core.train_run import train_checkpoint
from core.unlearn import run_unlearn

SPECS = {"class 0": ForgetSpec.of_classes([0]), "random 10%": ForgetSpec.random(fraction=0.1, seed=0)}


def checkpoints(work: Path, only: str | None, device: str) -> dict[str, tuple[Path, object]]:
    """(checkpoint, dataset) per benchmark dataset."""
    out = {}
    if only in (None, "digits"):
        out["digits"] = (CHECKPOINT_DIR / "digits_cnn_small.safetensors", load_dataset("digits"))
    if only in (None, "mnist"):
        if not MNIST_DIR.is_dir():
            print(f"skipping the MNIST benchmark: {MNIST_DIR} is missing")
        else:
            npz = mnist_benchmark_npz(work / "mnist_bench.npz")
            ds = load_dataset("npz", path=npz)
            ds.recipe = MNIST_RECIPE  # the benchmark is MNIST: its training and fine-tuning schedule
            card = train_checkpoint(ds, "cnn_small", TrainConfig(), work / "mnist_cnn_small", device=device,
                                    data_path=str(npz))
            print(f"MNIST benchmark model: test accuracy {card['accuracy']['test']:.4f}")
            out["mnist"] = (work / "mnist_cnn_small.safetensors", ds)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--only", choices=["digits", "mnist"])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--gammas", default="default,auto", help="γ values: 'default' (the paper's), 'auto', or numbers")
    ap.add_argument("--json", help="also write the rows as JSON")
    a = ap.parse_args()
    gammas = [None if g == "default" else g if g == "auto" else float(g) for g in a.gammas.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name, (ckpt, ds) in checkpoints(work, a.only, a.device).items():
            for label, spec in SPECS.items():
                prep = prepare(ckpt, spec, device=a.device, dataset=ds)
                gold = gold_model(prep, None)  # retrained here, so both times are taken under the same load
                for gamma in gammas:
                    r = run_unlearn(ckpt, spec, DEFAULT_METHOD, DeepCleanConfig(gamma=gamma), prepared=prep, gold=gold)
                    u, g = r.unlearned, r.gold
                    rows.append({
                        "dataset": name, "forget": label, "gamma": r.config["gamma"], "auto": gamma == "auto",
                        "checks": {c.name: c.status for c in r.verdict},
                        "audit": {c.name: c.status for c in r.audit.checks},
                        "acc_forget_u": u.acc_forget, "acc_forget_g": g.acc_forget,
                        "acc_test_u": u.judged_test, "acc_test_g": g.judged_test, "acc_test_kind": u.judged_test_label,
                        "delta_acc_forget": r.deltas["acc_forget"], "delta_mia": r.deltas["mia"],
                        "loss_auc_u": u.loss_auc, "loss_auc_g": g.loss_auc,
                        "reset": r.weights_reset_fraction, "seconds_u": r.seconds, "seconds_g": g.seconds,
                        "time_vs_gold": r.time_vs_gold, "time_vs_retrain": r.time_vs_retrain, "phases": r.phases,
                    })
                    print(json.dumps(rows[-1]), flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=2))
    pct = lambda v: f"{100 * v:.2f}"  # noqa: E731
    lines = ["## DeepClean vs gold retraining (`bench/unlearn.py`)", "",
             f"Command: `.venv/bin/python bench/unlearn.py --gammas {a.gammas}` — {machine()}. Default γ is the paper's "
             "(2.0 classes, 1.1 samples); auto is automatic γ, its search included in its time. Acc(test) is on the "
             "retained classes for class forgetting. Gold is retrained in the same process for each forget set. "
             "Checks against gold: forgotten / kept / private (open: the 95% interval straddles the bar).", "",
             "| dataset | forget | γ | Acc(Df) DC / gold | Acc(test) DC / gold | ΔAcc(Df) pts | ΔMIA pts | loss AUC DC / gold | weights reset | DC s | gold s | time ÷ gold | vs gold: forgotten / kept / private |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        c = r["checks"]
        shown = f"auto → {r['gamma']:g}" if r["auto"] else f"{r['gamma']:g}"
        lines.append(f"| {r['dataset']} | {r['forget']} | {shown} | {pct(r['acc_forget_u'])} / {pct(r['acc_forget_g'])} | "
                     f"{pct(r['acc_test_u'])} / {pct(r['acc_test_g'])} | {100 * r['delta_acc_forget']:+.2f} | "
                     f"{100 * r['delta_mia']:+.2f} | {r['loss_auc_u']:.3f} / {r['loss_auc_g']:.3f} | {pct(r['reset'])}% | "
                     f"{r['seconds_u']:.2f} | {r['seconds_g']:.2f} | {r['time_vs_gold']:.3f} | "
                     f"{c['forgotten']} / {c['kept']} / {c['private']} |")
    write_section("unlearn" if a.only is None else f"unlearn-{a.only}", "\n".join(lines))


if __name__ == "__main__":
    main()
