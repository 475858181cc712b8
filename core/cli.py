"""`python -m core COMMAND`: the command-line face of the engine (tqdm progress on stderr, `--json`)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable

from . import verdict
from .checkpoint import CheckpointError
from .cliflags import add_config_flags, config_from_args, config_from_strings, parse_assignments
from .config import field_help, field_type
from .data import DATASETS, DataError, load_dataset
from .forget import ForgetSpec, ForgetSpecError, read_indices_csv
from .methods import METHODS, MethodError, get_method
from .methods.deepclean import GAMMA_GRID, DeepCleanConfig
from .models import MODELS
from .runtime import Progress
from .store import RunStore, StoreError
from .train import TrainConfig

USER_ERRORS = (MethodError, DataError, CheckpointError, ForgetSpecError, StoreError, ValueError, FileNotFoundError)


def tqdm_progress() -> Progress:
    """A progress callback drawing one tqdm bar per phase on stderr."""
    from tqdm import tqdm

    state: dict[str, Any] = {"phase": None, "bar": None}

    def report(phase: str, fraction: float, message: str = "") -> None:
        if phase != state["phase"]:
            if state["bar"] is not None:
                state["bar"].close()
            # disable=None: no bars when stderr is not a terminal (logs and pipes stay readable)
            state["bar"] = tqdm(total=1000, desc=phase, file=sys.stderr, leave=False, disable=None,
                                bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining} {postfix}")
            state["phase"] = phase
        bar = state["bar"]
        bar.n = int(round(fraction * 1000))
        bar.set_postfix_str(message, refresh=False)
        now = time.monotonic()
        if fraction >= 1.0 or now - state.get("shown", 0.0) >= 0.1:
            state["shown"] = now
            bar.refresh()
        if fraction >= 1.0:
            bar.close()
            state["phase"], state["bar"] = None, None

    return report


def emit_json(result: Any, target: str | None) -> None:
    """Write `result` as JSON to a file, or to stdout for `-`."""
    if not target:
        return
    text = json.dumps(result, indent=2, default=str)
    if target == "-":
        print(text)
    else:
        Path(target).write_text(text + "\n")
        print(f"wrote {target}", file=sys.stderr)


def add_common(p: argparse.ArgumentParser, *, device: bool = True) -> None:
    p.add_argument("--json", metavar="FILE", help="also write the result as JSON to FILE ('-' for stdout)")
    if device:
        p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (CUDA when present) [default: auto]")


def add_dataset_flags(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("--dataset", required=required, choices=list(DATASETS), help="dataset to use")
    p.add_argument("--data-path", help="your .npz or image-folder zip (for --dataset npz / image_folder)")
    p.add_argument("--download", action="store_true", help="let torchvision download the dataset where the network allows")


def add_checkpoint_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True, help=".safetensors (with its model card beside it) or .pt/.pth state dict")
    p.add_argument("--architecture", choices=list(MODELS), help="for a checkpoint without a model card")
    add_dataset_flags(p, required=False)


def card_from_args(a: argparse.Namespace) -> dict | None:
    """A model card built from --architecture/--dataset for a bare checkpoint (None when the card is beside it)."""
    if not a.architecture:
        return None
    if not a.dataset:
        raise ValueError("--architecture needs --dataset too, so the input shape and classes are known")
    from .workflows import card_for

    ds = load_dataset(a.dataset, path=a.data_path, download=getattr(a, "download", False))
    return card_for(a.architecture, ds, a.data_path)


def setup_train(p: argparse.ArgumentParser):
    add_dataset_flags(p)
    p.add_argument("--model", required=True, choices=list(MODELS), help="architecture to train")
    p.add_argument("--out", required=True, help="output path stem; writes STEM.safetensors and STEM.json")
    add_config_flags(p, TrainConfig)
    add_common(p)

    def run(a: argparse.Namespace) -> int:
        from .workflows import train_checkpoint

        ds = load_dataset(a.dataset, path=a.data_path, download=a.download)
        card = train_checkpoint(ds, a.model, config_from_args(TrainConfig, a), a.out, device=a.device,
                                store=RunStore(), progress=tqdm_progress(), data_path=a.data_path)
        print(f"trained {a.model} on {ds.name}: train accuracy {card['accuracy']['train']:.2%}, "
              f"test accuracy {card['accuracy']['test']:.2%}, {card['train_seconds']:.1f}s; "
              f"saved {card['file']} (sha256 {card['sha256'][:12]}…)")
        emit_json(card, a.json)
        return 0
    return run


def setup_evaluate(p: argparse.ArgumentParser):
    add_checkpoint_flags(p)
    add_common(p)

    def run(a: argparse.Namespace) -> int:
        from .workflows import evaluate_checkpoint

        r = evaluate_checkpoint(a.checkpoint, card_from_args(a), device=a.device)
        print(f"{Path(a.checkpoint).name} ({r['architecture']} on {r['dataset']})")
        print(f"  train accuracy {r['acc_train']:.2%}   test accuracy {r['acc_test']:.2%}")
        print("  per-class test accuracy:")
        for c, v in r["per_class_test"].items():
            print(f"    {c:>12}: {'—' if v is None else f'{v:.2%}'}")
        emit_json(r, a.json)
        return 0
    return run


def setup_runs(p: argparse.ArgumentParser):
    p.add_argument("--kind", help="only runs of this kind (train, unlearn, gold, ...)")
    p.add_argument("--status", help="only runs with this status (queued, running, done, failed, ...)")
    p.add_argument("--limit", type=int, default=50, help="at most this many, newest first [default: 50]")
    add_common(p, device=False)

    def run(a: argparse.Namespace) -> int:
        store = RunStore()
        rows = store.list(kind=a.kind, status=a.status, limit=a.limit)
        if not rows:
            print(f"no runs yet (DEEPCLEAN_HOME: {store.home})")
        for r in rows:
            forget = r["forget"] or {}
            desc = forget.get("kind", "") and json.dumps(forget, separators=(",", ":"))
            print(f"{r['id']}  {r['kind']:<8} {r['method'] or '':<14} {r['dataset'] or '':<10} {r['status']:<11} "
                  f"{(r['phase'] or ''):<14} {desc}")
        emit_json(rows, a.json)
        return 0
    return run


def add_forget_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("forget set (choose one)")
    g.add_argument("--forget-classes", help="comma-separated class indices to forget, e.g. 0 or 3,5")
    g.add_argument("--forget-fraction", type=float, help="forget this random fraction of the training split, e.g. 0.1")
    g.add_argument("--forget-count", type=int, help="forget this many random training samples")
    g.add_argument("--forget-indices", metavar="FILE", help="CSV of training-split indices to forget")
    g.add_argument("--forget-seed", type=int, help="seed of the random forget set [default: --seed, else 0]")


def spec_from_args(a: argparse.Namespace) -> ForgetSpec:
    chosen = [n for n in ("forget_classes", "forget_fraction", "forget_count", "forget_indices") if getattr(a, n) is not None]
    if len(chosen) != 1:
        raise ForgetSpecError("choose exactly one of --forget-classes, --forget-fraction, --forget-count, --forget-indices")
    if a.forget_classes is not None:
        try:
            return ForgetSpec.of_classes(int(c) for c in a.forget_classes.split(",") if c.strip())
        except ValueError:
            raise ForgetSpecError(f"--forget-classes {a.forget_classes!r}: give class indices such as 0 or 3,5") from None
    if a.forget_indices is not None:
        path = Path(a.forget_indices)
        if not path.is_file():
            raise ForgetSpecError(f"{path}: no such file of indices")
        return read_indices_csv(path.read_text())
    seed = a.forget_seed if a.forget_seed is not None else (getattr(a, "seed", None) or 0)
    return ForgetSpec.random(fraction=a.forget_fraction, count=a.forget_count, seed=seed)


def _pct(v) -> str:
    return "—" if v is None else f"{100 * v:6.2f}"


def print_unlearn(r: dict) -> None:
    f = r["forget"]
    print(f"{r['method']} on {r['dataset']}: forget {f['description']} ({f['forget_size']} samples, "
          f"retain {f['retain_size']}); run {r['run_id']}")
    print(f"{'model':<10} {'Acc(Dr)':>8} {'Acc(Df)':>8} {'Acc(test)':>9} {'MIA(Df)':>8} {'lossAUC':>8} {'JS→gold':>8} {'seconds':>8}")
    for name, m in r["models"].items():
        print(f"{name:<10} {_pct(m['acc_retain']):>8} {_pct(m['acc_forget']):>8} {_pct(m['acc_test']):>9} "
              f"{_pct(m['mia_forget']):>8} {m['loss_auc']:8.3f} {m['js_to_gold']:8.4f} {m['seconds']:8.2f}")
    u, g = r["models"]["unlearned"], r["models"]["gold"]
    if "acc_test_retained_classes" in u:
        print(f"Acc(test, retained classes): unlearned {_pct(u['acc_test_retained_classes'])}, gold {_pct(g['acc_test_retained_classes'])}")
    print(f"ΔAcc(Df) = {100 * r['deltas']['acc_forget']:+.2f} points, ΔMIA = {100 * r['deltas']['mia']:+.2f} points"
          + ("   ⚠ Streisand: Acc(Df) well below gold's" if r["streisand"] else ""))
    if r.get("weights_reset_fraction") is not None:
        print(f"weights reset: {100 * r['weights_reset_fraction']:.3f}% (γ = {r['config'].get('gamma')})")
    tv = r["time_vs_gold"]
    print(f"weights changed: {100 * r['weights_changed_fraction']:.3f}%;  time ÷ gold: "
          f"{'—' if tv is None else f'{tv:.3f}'}{' (gold from cache)' if r['gold']['cached'] else ''}")
    print("phases: " + ", ".join(f"{k} {v:.2f}s" for k, v in r["phases"].items()))
    print("against gold:")
    print(verdict.text(verdict.of_result(r)))
    if r.get("artifact"):
        print(f"saved {r['artifact']['path']}")


def setup_unlearn(p: argparse.ArgumentParser, method_name: str = "deepclean"):
    add_checkpoint_flags(p)
    add_forget_flags(p)
    p.add_argument("--method", default="deepclean", choices=list(METHODS),
                   help="unlearning method (python -m core methods); its options follow [default: deepclean]")
    add_common(p)
    add_config_flags(p, get_method(method_name).config)

    def run(a: argparse.Namespace) -> int:
        from .unlearn import run_unlearn

        m = get_method(a.method)
        r = run_unlearn(a.checkpoint, spec_from_args(a), a.method, config_from_args(m.config, a),
                        card=card_from_args(a), device=a.device, store=RunStore(), progress=tqdm_progress())
        print_unlearn(r)
        emit_json(r, a.json)
        return 0
    return run


def setup_gamma_curve(p: argparse.ArgumentParser, method_name: str = ""):
    add_checkpoint_flags(p)
    add_forget_flags(p)
    p.add_argument("--gammas", default=",".join(str(g) for g in GAMMA_GRID), help="comma-separated γ values")
    p.add_argument("--layers", action="store_true", help="also print the count per parameter tensor")
    add_config_flags(p, DeepCleanConfig)
    add_common(p)

    def run(a: argparse.Namespace) -> int:
        from .methods.deepclean import gamma_curve, importances
        from .unlearn import prepare

        prep = prepare(a.checkpoint, spec_from_args(a), card=card_from_args(a), device=a.device, progress=tqdm_progress())
        i_f, i_r = importances(prep.model, prep.task, config_from_args(DeepCleanConfig, a))
        rows = gamma_curve(i_f, i_r, [float(g) for g in a.gammas.split(",")])
        print(f"weights with I_Df/I_Dr > γ (of {rows[0]['total']:,}) for {prep.spec.describe()}:")
        for row in rows:
            print(f"  γ = {row['gamma']:>7g}: {row['selected']:>10,}  ({100 * row['fraction']:.4f}%)")
            if a.layers:
                for n, c in row["per_layer"].items():
                    print(f"      {n:<30} {c:>10,}")
        emit_json({"forget": prep.forget_info(), "rows": rows}, a.json)
        return 0
    return run


def setup_methods(p: argparse.ArgumentParser):
    add_common(p, device=False)

    def run(a: argparse.Namespace) -> int:
        rows = []
        for name, m in METHODS.items():
            options = [{"name": f.name, "default": f.default, "help": field_help(f),
                        "type": str(field_type(m.config, f)).replace("typing.", "")} for f in dataclasses.fields(m.config)]
            rows.append({"name": name, "summary": m.summary, "needs_labels": m.needs_labels, "needs_retain": m.needs_retain,
                         "forget_kinds": list(m.forget_kinds), "citation": m.citation, "options": options})
            print(f"{name}: {m.summary}")
            print(f"    labels: {'yes' if m.needs_labels else 'no'};  retain data: {m.needs_retain};  "
                  f"forget sets: {', '.join(m.forget_kinds)};  from: {m.citation}")
            for o in options:
                print(f"    --{o['name'].replace('_', '-'):<24} {str(o['default']):<10} {o['help']}")
        emit_json(rows, a.json)
        return 0
    return run


def setup_compare(p: argparse.ArgumentParser):
    add_checkpoint_flags(p)
    add_forget_flags(p)
    p.add_argument("--methods", default="all", help="comma-separated method names, or 'all' [default: all]")
    p.add_argument("--set", action="append", metavar="METHOD.OPTION=VALUE",
                   help="a method's option, e.g. --set deepclean.gamma=1.5 (repeatable)")
    p.add_argument("--fresh", action="store_true", help="run every method again instead of reusing finished runs")
    p.add_argument("--csv", metavar="FILE", help="also write the table as CSV to FILE ('-' for stdout)")
    add_common(p)

    def run(a: argparse.Namespace) -> int:
        from .compare import run_compare, table_csv, table_text

        configs = {}
        for name, values in parse_assignments(a.set).items():
            configs[name] = config_from_strings(get_method(name).config, values, owner=name)
        r = run_compare(a.checkpoint, spec_from_args(a), a.methods, configs, card=card_from_args(a), device=a.device,
                        store=RunStore(), progress=tqdm_progress(), reuse=not a.fresh)
        f = r["forget"]
        print(f"{r['dataset']}: forget {f['description']} ({f['forget_size']} samples, retain {f['retain_size']}); "
              f"gold {r['gold_run']['seconds']:.2f}s{' (cached)' if r['gold_run']['cached'] else ''}")
        print(table_text(r))
        for s in r["skipped"]:
            print(f"skipped {s['method']}: {s['reason']}")
        if a.csv == "-":
            print(table_csv(r), end="")
        elif a.csv:
            Path(a.csv).write_text(table_csv(r))
            print(f"wrote {a.csv}", file=sys.stderr)
        emit_json(r, a.json)
        return 0 if all("error" not in row for row in r["rows"]) else 1
    return run


def setup_sweep(p: argparse.ArgumentParser):
    add_checkpoint_flags(p)
    add_forget_flags(p)
    p.add_argument("--gammas", required=True, help="comma-separated thresholds, e.g. 1.1,1.5,2,2.5,3")
    p.add_argument("--method", default="deepclean", choices=["deepclean", "zero_weights"], help="[default: deepclean]")
    add_config_flags(p, DeepCleanConfig)
    add_common(p)

    def run(a: argparse.Namespace) -> int:
        from .jobs import default_executor
        from .sweep import parse_gammas, submit_sweep, sweep_rows

        gammas = parse_gammas(a.gammas)
        ex = default_executor(RunStore())
        ids = submit_sweep(ex, a.checkpoint, spec_from_args(a), gammas, config_from_args(DeepCleanConfig, a),
                           method=a.method, device=a.device, card=card_from_args(a))
        print(f"queued {len(ids)} jobs on {type(ex).__name__}: " + ", ".join(ids), file=sys.stderr)
        try:
            for run_id in ids:
                ex.wait(run_id)
        finally:
            ex.shutdown()
        rows = sweep_rows(ex, ids)
        print(f"{'γ':>7} {'status':<10} {'reset':>8} {'Acc(Df)':>8} {'Acc(test)':>9} {'ΔAcc(Df)':>9} {'ΔMIA':>8} "
              f"{'seconds':>8} {'÷ gold':>7}  misses")
        num = lambda v, f: "—" if v is None else format(v, f)  # noqa: E731
        for r in rows:
            pct = {k: num(None if r[k] is None else 100 * r[k], ".2f") for k in
                   ("weights_reset_fraction", "acc_forget", "acc_test", "delta_acc_forget", "delta_mia")}
            print(f"{r['gamma']:>7g} {r['status']:<10} {pct['weights_reset_fraction']:>8} {pct['acc_forget']:>8} "
                  f"{pct['acc_test']:>9} {pct['delta_acc_forget']:>9} {pct['delta_mia']:>8} "
                  f"{num(r['seconds'], '.2f'):>8} {num(r['time_vs_gold'], '.3f'):>7}  {r['misses'] or '—'}"
                  + (f"  {r['error']}" if r["error"] else ""))
        emit_json(rows, a.json)
        return 0 if all(r["status"] == "done" for r in rows) else 1
    return run


SUBCOMMANDS: dict[str, tuple[Callable, str]] = {
    "unlearn": (setup_unlearn, "unlearn a forget set from a checkpoint and compare with the gold model"),
    "compare": (setup_compare, "run several methods on one forget set and print the comparison table"),
    "sweep": (setup_sweep, "one DeepClean job per γ on the active executor (local workers or Dask), then a table"),
    "methods": (setup_methods, "list the unlearning methods, what each needs, and their options"),
    "gamma-curve": (setup_gamma_curve, "how many weights each γ selects, from one Fisher computation"),
    "train": (setup_train, "train a classifier and save it as safetensors + model card"),
    "evaluate": (setup_evaluate, "accuracy of a checkpoint on train, test and per class"),
    "runs": (setup_runs, "list the run records"),
}


METHOD_AWARE = ("unlearn",)


def build_parser(method_name: str = "deepclean") -> tuple[argparse.ArgumentParser, dict[str, Callable]]:
    """The parser; `method_name` decides which method's config flags `unlearn` offers."""
    parser = argparse.ArgumentParser(prog="python -m core", description="DeepClean Studio: machine unlearning engine")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    runners = {}
    for name, (setup, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        runners[name] = setup(p, method_name) if name in METHOD_AWARE else setup(p)
    return parser, runners


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--method", default="deepclean")
    method_name = pre.parse_known_args(argv)[0].method
    parser, runners = build_parser(method_name if method_name in METHODS else "deepclean")
    a = parser.parse_args(argv)
    try:
        return runners[a.command](a)
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
    except USER_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
