"""`python -m core COMMAND`: the command-line face of the engine (tqdm progress on stderr, `--json`)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable

from . import config as cfgmod
from . import verdict
from .checkpoint import CheckpointError
from .cliflags import SET_EXAMPLE, add_config_flags, config_from_args, parse_assignments
from .data import DATASETS, DataError, load_dataset
from .forget import ForgetSpec, ForgetSpecError, read_indices_csv
from .methods import DEFAULT_METHOD, METHODS, MethodError, get_method, swept_methods
from .models import MODELS
from .progress import Progress
from .result import UnlearnResult
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
    from .cards import INPUT_PRESETS

    p.add_argument("--checkpoint", required=True, help=".safetensors (with its model card beside it) or .pt/.pth state dict")
    p.add_argument("--architecture", choices=list(MODELS), metavar="ARCH",
                   help="for a checkpoint without a model card: one of ours (cnn_small, resnet18, vgg16_bn, vit_mini) or "
                        "torchvision.NAME, e.g. torchvision.resnet50 (python -m core models lists them)")
    p.add_argument("--input", choices=INPUT_PRESETS, help="without a model card, how inputs are prepared: the dataset's "
                   "own statistics and shape, or torchvision's (ImageNet statistics, 3 channels, 224×224) "
                   "[default: imagenet for torchvision.*, else dataset]")
    p.add_argument("--input-size", type=int, metavar="N", help="without a model card, resize images to N×N")
    add_dataset_flags(p, required=False)


def card_from_args(a: argparse.Namespace) -> dict | None:
    """A model card built from --architecture/--dataset for a bare checkpoint (None when the card is beside it)."""
    if not a.architecture:
        return None
    if not a.dataset:
        raise ValueError("--architecture needs --dataset too, so the input shape and classes are known")
    from .cards import card_for

    ds = load_dataset(a.dataset, path=a.data_path, download=getattr(a, "download", False))
    return card_for(a.architecture, ds, a.data_path, preset=a.input, size=a.input_size)


def setup_train(p: argparse.ArgumentParser):
    add_dataset_flags(p)
    p.add_argument("--model", required=True, choices=list(MODELS), help="architecture to train")
    p.add_argument("--out", required=True, help="output path stem; writes STEM.safetensors and STEM.json")
    add_config_flags(p, TrainConfig)
    add_common(p)

    def run(a: argparse.Namespace) -> int:
        from .train_run import train_checkpoint

        ds = load_dataset(a.dataset, path=a.data_path, download=a.download)
        card = train_checkpoint(ds, a.model, config_from_args(TrainConfig, a, owner="train"), a.out, device=a.device,
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
        from .predict import evaluate_checkpoint

        r = evaluate_checkpoint(a.checkpoint, card_from_args(a), device=a.device)
        print(f"{Path(a.checkpoint).name} ({r['architecture']} on {r['dataset']}); input: {r['input_transform']}")
        print(f"  train accuracy {r['acc_train']:.2%}   test accuracy {r['acc_test']:.2%}")
        print("  per-class test accuracy:")
        for c, v in r["per_class_test"].items():
            print(f"    {c:>12}: {'—' if v is None else f'{v:.2%}'}")
        emit_json(r, a.json)
        return 0
    return run


def setup_models(p: argparse.ArgumentParser):
    add_common(p, device=False)

    def run(a: argparse.Namespace) -> int:
        from .models import OWN, TORCHVISION_PREFIX

        ours = list(OWN)
        zoo = sorted(n for n in MODELS if n.startswith(TORCHVISION_PREFIX))
        print("ours: " + ", ".join(ours))
        print(f"torchvision ({len(zoo)}, built with weights=None; your checkpoint brings the weights):")
        for k in range(0, len(zoo), 4):
            print("  " + "  ".join(f"{n:<32}" for n in zoo[k:k + 4]).rstrip())
        emit_json({"ours": ours, "torchvision": zoo}, a.json)
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


def print_unlearn(r: UnlearnResult) -> None:
    f = r.forget
    print(f"{r.method} on {r.dataset}: forget {f.spec.describe()} ({f.forget_size} samples, "
          f"retain {f.retain_size}); run {r.run_id}")
    print(f"{'model':<10} {'Acc(Dr)':>8} {'Acc(Df)':>8} {'Acc(test)':>9} {'MIA(Df)':>8} {'lossAUC':>8} {'JS→gold':>8} {'seconds':>8}")
    for name, m in r.models.items():
        if m is None:
            continue
        seconds = r.seconds if name == "unlearned" else m.seconds
        js = "—" if m.js_to_gold is None else f"{m.js_to_gold:.4f}"
        print(f"{name:<10} {_pct(m.acc_retain):>8} {_pct(m.acc_forget):>8} {_pct(m.acc_test):>9} "
              f"{_pct(m.mia_forget):>8} {m.loss_auc:8.3f} {js:>8} {seconds:8.2f}")
    if r.unlearned.acc_test_retained_classes is not None:
        gold = f", gold {_pct(r.gold.judged_test)}" if r.gold else ""
        print(f"{r.unlearned.judged_test_label}: unlearned {_pct(r.unlearned.judged_test)}{gold}")
    if r.deltas is not None:
        print(f"ΔAcc(Df) = {100 * r.deltas['acc_forget']:+.2f} points, ΔMIA = {100 * r.deltas['mia']:+.2f} points"
              + ("   ⚠ Streisand: Acc(Df) well below gold's" if r.streisand else ""))
    sweep = get_method(r.method).sweep
    if r.weights_reset_fraction is not None:
        swept = f" ({sweep.label} = {r.config.get(sweep.option):g})" if sweep else ""
        print(f"weights reset: {100 * r.weights_reset_fraction:.3f}%{swept}")
    if r.gamma_search:
        s = r.gamma_search
        print(f"automatic γ: chose {s['chosen']:g} ({s['epochs']} fine-tuning epochs) after {len(s['tried'])} tries "
              f"on half A of the reference ({s['reference_size']} images)"
              + ("" if s["passed"] else "; no candidate passed every check, this one came closest"))
    tv, tr = r.time_vs_gold, r.time_vs_retrain
    print(f"weights changed: {100 * r.weights_changed_fraction:.3f}%;  time ÷ retraining (estimated in this job, "
          f"{r.retrain_seconds:.2f}s): {'—' if tr is None else f'{tr:.3f}'};  time ÷ gold: "
          f"{'—' if tv is None else f'{tv:.3f}'}{' (gold from cache)' if r.gold_ref and r.gold_ref.cached else ''}")
    print("phases: " + ", ".join(f"{k} {v:.2f}s" for k, v in r.phases.items()))
    if r.gold is not None:
        print("against gold:")
        print(verdict.text(r.verdict))
    else:
        print("no gold model (gold: none, or none cached): judged by the gold-free audit alone")
    if r.audit is not None:
        ref = r.audit.reference
        print(f"gold-free audit, against {ref['what']} ({ref['size']} images"
              + (", the half the search did not see" if ref["half"] == "B" else "") + "):")
        print(verdict.text(r.audit.checks))
    if r.artifact:
        print(f"saved {r.artifact['path']}")


def add_gold_flag(p: argparse.ArgumentParser) -> None:
    from .gold import GOLD_HELP, GOLD_MODES

    p.add_argument("--gold", default="train", choices=GOLD_MODES, help=f"{GOLD_HELP} [default: train]")


def add_method_flag(p: argparse.ArgumentParser, choices: list[str], what: str) -> None:
    p.add_argument("--method", default=DEFAULT_METHOD if DEFAULT_METHOD in choices else choices[0], choices=choices,
                   help=f"{what} (python -m core methods); its options follow [default: %(default)s]")


def setup_unlearn(p: argparse.ArgumentParser, method_name: str = DEFAULT_METHOD):
    add_checkpoint_flags(p)
    add_forget_flags(p)
    add_method_flag(p, list(METHODS), "unlearning method")
    add_gold_flag(p)
    add_common(p)
    add_config_flags(p, get_method(method_name).config)

    def run(a: argparse.Namespace) -> int:
        from .unlearn import run_unlearn

        m = get_method(a.method)
        r = run_unlearn(a.checkpoint, spec_from_args(a), a.method, config_from_args(m.config, a, owner=a.method),
                        card=card_from_args(a), device=a.device, store=RunStore(), progress=tqdm_progress(),
                        gold_mode=a.gold)
        print_unlearn(r)
        emit_json(r.to_dict(), a.json)
        return 0
    return run


def curve_methods() -> list[str]:
    return [n for n, m in swept_methods().items() if m.sweep.curve is not None]


def setup_gamma_curve(p: argparse.ArgumentParser, method_name: str = DEFAULT_METHOD):
    m = get_method(method_name if method_name in curve_methods() else curve_methods()[0])
    add_checkpoint_flags(p)
    add_forget_flags(p)
    add_method_flag(p, curve_methods(), "method whose curve to draw")
    p.add_argument("--values", "--gammas", dest="values", default=",".join(f"{g:g}" for g in m.sweep.grid),
                   help=f"comma-separated values of {m.sweep.label} [default: %(default)s]")
    p.add_argument("--layers", action="store_true", help="also print the count per parameter tensor")
    add_config_flags(p, m.config)
    add_common(p)

    def run(a: argparse.Namespace) -> int:
        from .curves import sweep_curve
        from .sweep import parse_values

        values = parse_values(a.values)
        curve = sweep_curve(a.checkpoint, spec_from_args(a), a.method, config_from_args(m.config, a, owner=a.method),
                            values, card=card_from_args(a), device=a.device, progress=tqdm_progress())
        rows, option = curve["rows"], curve["option"]
        print(f"weights selected per {m.sweep.label} (of {rows[0]['total']:,}) for {curve['forget']['description']}:")
        for row in rows:
            print(f"  {option} = {row[option]:>7g}: {row['selected']:>10,}  ({100 * row['fraction']:.4f}%)")
            if a.layers:
                for n, c in row["per_layer"].items():
                    print(f"      {n:<30} {c:>10,}")
        emit_json(curve, a.json)
        return 0
    return run


def method_listing(name: str) -> dict[str, Any]:
    """What `methods --json` says of one method: its traits and its options with their limits."""
    m = METHODS[name]
    options = [{"name": o.name, "default": o.default, "help": o.help, "limits": o.limits(),
                "choices": list(o.choices) if o.choices else None,
                "type": (f"tuple[{o.item.__name__}, ...]" if o.kind is tuple else o.kind.__name__)
                + (" | None" if o.optional else "")} for o in cfgmod.options(m.config)]
    sweep = m.sweep and {"option": m.sweep.option, "label": m.sweep.label, "range": [m.sweep.low, m.sweep.high],
                         "values": list(m.sweep.values), "curve": m.sweep.curve is not None}
    return {"name": name, "summary": m.summary, "needs_labels": m.needs_labels, "needs_retain": m.needs_retain,
            "forget_kinds": list(m.forget_kinds), "citation": m.citation, "importance": list(m.importance),
            "sweep": sweep or None, "reference": m.reference, "options": options}


def setup_methods(p: argparse.ArgumentParser):
    add_common(p, device=False)

    def run(a: argparse.Namespace) -> int:
        rows = [method_listing(name) for name in METHODS]
        for r in rows:
            print(f"{r['name']}: {r['summary']}")
            traits = [f"labels: {'yes' if r['needs_labels'] else 'no'}", f"retain data: {r['needs_retain']}",
                      f"forget sets: {', '.join(r['forget_kinds'])}"]
            if r["sweep"]:
                traits.append(f"swept: {r['sweep']['option']}")
            if r["importance"]:
                traits.append(f"shares: {', '.join(r['importance'])}")
            print(f"    {';  '.join(traits)};  from: {r['citation']}")
            for o in r["options"]:
                print(f"    --{o['name'].replace('_', '-'):<24} {str(o['default']):<10} {o['help']}"
                      + (f" ({o['limits']})" if o["limits"] else ""))
        emit_json(rows, a.json)
        return 0
    return run


def setup_compare(p: argparse.ArgumentParser):
    add_checkpoint_flags(p)
    add_forget_flags(p)
    p.add_argument("--methods", default="all", help="comma-separated method names, or 'all' [default: all]")
    p.add_argument("--set", action="append", metavar="METHOD.OPTION=VALUE",
                   help=f"a method's option, e.g. --set {SET_EXAMPLE} (repeatable)")
    p.add_argument("--fresh", action="store_true", help="run every method again instead of reusing finished runs")
    p.add_argument("--csv", metavar="FILE", help="also write the table as CSV to FILE ('-' for stdout)")
    add_gold_flag(p)
    add_common(p)

    def run(a: argparse.Namespace) -> int:
        from .compare import run_compare, table_csv, table_text

        configs = {}
        for name, values in parse_assignments(a.set).items():
            configs[name] = cfgmod.parse(get_method(name).config, values, owner=name)
        r = run_compare(a.checkpoint, spec_from_args(a), a.methods, configs, card=card_from_args(a), device=a.device,
                        gold_mode=a.gold,
                        store=RunStore(), progress=tqdm_progress(), reuse=not a.fresh)
        f = r["forget"]
        gold = r["gold_run"]
        print(f"{r['dataset']}: forget {f['description']} ({f['forget_size']} samples, retain {f['retain_size']}); "
              + (f"gold {gold['seconds']:.2f}s{' (cached)' if gold['cached'] else ''}" if gold else "no gold model"))
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


def setup_sweep(p: argparse.ArgumentParser, method_name: str = DEFAULT_METHOD):
    swept = list(swept_methods())
    m = get_method(method_name if method_name in swept else swept[0])
    add_checkpoint_flags(p)
    add_forget_flags(p)
    add_method_flag(p, swept, "method to sweep")
    p.add_argument("--values", "--gammas", dest="values", required=True,
                   help=f"comma-separated values of the method's swept option ({m.sweep.label} for {m.name}), "
                        f"e.g. {','.join(f'{v:g}' for v in m.sweep.values)}")
    add_gold_flag(p)
    add_config_flags(p, m.config)
    add_common(p)

    def run(a: argparse.Namespace) -> int:
        from .executors import default_executor
        from .sweep import parse_values, submit_sweep, sweep_rows

        values = parse_values(a.values)
        base = config_from_args(m.config, a, owner=a.method)
        ex = default_executor(RunStore())
        ids = submit_sweep(ex, a.checkpoint, spec_from_args(a), values, base, method=a.method, device=a.device,
                           card=card_from_args(a), gold=a.gold)
        print(f"queued {len(ids)} jobs on {type(ex).__name__}: " + ", ".join(ids), file=sys.stderr)
        try:
            for run_id in ids:
                ex.wait(run_id)
        finally:
            ex.shutdown()
        rows = sweep_rows(ex, ids)
        print(f"{m.sweep.option:>7} {'status':<10} {'reset':>8} {'Acc(Df)':>8} {'Acc(test)':>9} {'ΔAcc(Df)':>9} "
              f"{'ΔMIA':>8} {'seconds':>8} {'÷ gold':>7}  misses (gold / audit)")
        num = lambda v, f: "—" if v is None else format(v, f)  # noqa: E731
        for r in rows:
            pct = {k: num(None if r[k] is None else 100 * r[k], ".2f") for k in
                   ("weights_reset_fraction", "acc_forget", "acc_test", "delta_acc_forget", "delta_mia")}
            print(f"{r['value']:>7g} {r['status']:<10} {pct['weights_reset_fraction']:>8} {pct['acc_forget']:>8} "
                  f"{pct['acc_test']:>9} {pct['delta_acc_forget']:>9} {pct['delta_mia']:>8} "
                  f"{num(r['seconds'], '.2f'):>8} {num(r['time_vs_gold'], '.3f'):>7}  {r['misses'] or '—'} / "
                  f"{r['audit_misses'] or '—'}"
                  + (f"  {r['error']}" if r["error"] else ""))
        emit_json(rows, a.json)
        return 0 if all(r["status"] == "done" for r in rows) else 1
    return run


def setup_cluster_certs(p: argparse.ArgumentParser):
    from .cluster_tls import CERT_DAYS, DEFAULT_HOSTS

    p.add_argument("--dir", required=True, help="folder for ca.pem, ca-key.pem, cluster.pem and cluster-key.pem "
                   "(created if missing; files already there are kept)")
    p.add_argument("--host", action="append", dest="hosts", metavar="NAME",
                   help=f"a host name or address for the certificate (repeatable) [default: {', '.join(DEFAULT_HOSTS)}]")
    p.add_argument("--days", type=int, default=CERT_DAYS, help=f"validity of a new cluster certificate [default: {CERT_DAYS}]")

    def run(a: argparse.Namespace) -> int:
        from .cluster_tls import ensure_certs

        for line in ensure_certs(a.dir, tuple(a.hosts or DEFAULT_HOSTS), days=a.days):
            print(line)
        return 0
    return run


SUBCOMMANDS: dict[str, tuple[Callable, str]] = {
    "unlearn": (setup_unlearn, "unlearn a forget set from a checkpoint and compare with the gold model"),
    "compare": (setup_compare, "run several methods on one forget set and print the comparison table"),
    "sweep": (setup_sweep, "one job per value of a method's swept option (DeepClean's γ) on the active executor "
                           "(local workers or Dask), then a table"),
    "methods": (setup_methods, "list the unlearning methods, what each needs, and their options"),
    "gamma-curve": (setup_gamma_curve, "how many weights each value of γ (a method's swept option) selects, from "
                                       "one Fisher computation"),
    "train": (setup_train, "train a classifier and save it as safetensors + model card"),
    "evaluate": (setup_evaluate, "accuracy of a checkpoint on train, test and per class"),
    "runs": (setup_runs, "list the run records"),
    "models": (setup_models, "list the architectures a checkpoint can have"),
    "cluster-certs": (setup_cluster_certs, "make the Dask cluster's TLS CA and certificate in a folder where "
                                           "missing (kept when there)"),
}


# Commands whose flags include the options of the method named by --method.
METHOD_AWARE = ("unlearn", "gamma-curve", "sweep")


def build_parser(method_name: str = DEFAULT_METHOD) -> tuple[argparse.ArgumentParser, dict[str, Callable]]:
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
    pre.add_argument("--method", default=DEFAULT_METHOD)
    method_name = pre.parse_known_args(argv)[0].method
    parser, runners = build_parser(method_name if method_name in METHODS else DEFAULT_METHOD)
    a = parser.parse_args(argv)
    try:
        return runners[a.command](a)
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
    except USER_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
