"""`python -m core COMMAND`: the command-line face of the engine (tqdm progress on stderr, `--json`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable

from .checkpoint import CheckpointError
from .cliflags import add_config_flags, config_from_args
from .data import DATASETS, DataError, load_dataset
from .forget import ForgetSpecError
from .models import MODELS
from .runtime import Progress
from .store import RunStore, StoreError
from .train import TrainConfig

USER_ERRORS = (DataError, CheckpointError, ForgetSpecError, StoreError, ValueError, FileNotFoundError)


def tqdm_progress() -> Progress:
    """A progress callback drawing one tqdm bar per phase on stderr."""
    from tqdm import tqdm

    state: dict[str, Any] = {"phase": None, "bar": None}

    def report(phase: str, fraction: float, message: str = "") -> None:
        if phase != state["phase"]:
            if state["bar"] is not None:
                state["bar"].close()
            state["bar"] = tqdm(total=1000, desc=phase, file=sys.stderr, leave=False,
                                bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining} {postfix}")
            state["phase"] = phase
        bar = state["bar"]
        bar.n = int(round(fraction * 1000))
        bar.set_postfix_str(message, refresh=False)
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
    ds = load_dataset(a.dataset, path=a.data_path, download=getattr(a, "download", False))
    n = ds.normalisation()
    return {"architecture": a.architecture, "dataset": ds.name, "data_path": a.data_path, "num_classes": ds.num_classes,
            "classes": ds.classes, "input_shape": list(ds.input_shape), "normalisation": {"mean": list(n.mean), "std": list(n.std)}}


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
        rows = RunStore().list(kind=a.kind, status=a.status, limit=a.limit)
        if not rows:
            print("no runs yet (DEEPCLEAN_HOME: %s)" % RunStore().home)
        for r in rows:
            forget = r["forget"] or {}
            desc = forget.get("kind", "") and json.dumps(forget, separators=(",", ":"))
            print(f"{r['id']}  {r['kind']:<8} {r['method'] or '':<14} {r['dataset'] or '':<10} {r['status']:<11} "
                  f"{(r['phase'] or ''):<14} {desc}")
        emit_json(rows, a.json)
        return 0
    return run


SUBCOMMANDS: dict[str, tuple[Callable, str]] = {
    "train": (setup_train, "train a classifier and save it as safetensors + model card"),
    "evaluate": (setup_evaluate, "accuracy of a checkpoint on train, test and per class"),
    "runs": (setup_runs, "list the run records"),
}


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, Callable]]:
    parser = argparse.ArgumentParser(prog="python -m core", description="DeepClean Studio: machine unlearning engine")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    runners = {}
    for name, (setup, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        runners[name] = setup(p)
    return parser, runners


def main(argv: list[str] | None = None) -> int:
    parser, runners = build_parser()
    a = parser.parse_args(argv)
    try:
        return runners[a.command](a)
    except USER_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
