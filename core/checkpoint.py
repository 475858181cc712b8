"""Checkpoints: safetensors weights plus a JSON model card; untrusted files load without running code."""

from __future__ import annotations

import datetime as _dt
import errno
import hashlib
import json
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from .models import MODELS, build_model
from .models.torchvision_zoo import AUX_KEY_PREFIXES

SUFFIXES = (".safetensors", ".pt", ".pth")
CARD_FIELDS = ("architecture", "dataset", "num_classes", "input_shape", "normalisation")
# Dicts that training scripts wrap a state dict in: {"state_dict": ...} (Lightning, torchvision's references
# keep {"model": ...} beside the optimizer), {"model_state_dict": ...} (PyTorch's tutorials).
WRAPPER_KEYS = ("state_dict", "model", "model_state_dict")
# Key prefixes that wrappers add: DataParallel/DistributedDataParallel (`module.`), torch.compile (`_orig_mod.`).
WRAPPER_PREFIXES = ("module.", "_orig_mod.")
# BatchNorm's step counter: absent from checkpoints saved before torch 0.4.1 and unused in eval mode.
OPTIONAL_SUFFIXES = (".num_batches_tracked",)


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message names the problem and the fix."""


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def card_path(weights: str | Path) -> Path:
    """The model card that sits beside a weights file (same stem, `.json`)."""
    return Path(weights).with_suffix(".json")


def atomic_write_bytes(path: Path, write) -> None:
    """Write through `write(tmp_path)` to a temporary name in the same folder, then rename over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        # safetensors reports a full disk as its own SafetensorError ("... code: 28, kind: StorageFull ...")
        full = (isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT)) or (
            type(e).__name__ == "SafetensorError" and ("StorageFull" in str(e) or "code: 28" in str(e)))
        if full:
            raise CheckpointError(f"no space left on the disk holding {path.parent} while writing {path.name}; "
                                  f"free some space, or set DEEPCLEAN_HOME to a folder on a larger disk") from e
        raise


def save_checkpoint(model: nn.Module, card: dict[str, Any], weights_path: str | Path) -> dict[str, Any]:
    """Write `weights_path` (.safetensors) and its model card; returns the card with sha256 filled in."""
    weights_path = Path(weights_path)
    if weights_path.suffix != ".safetensors":
        weights_path = weights_path.with_name(weights_path.name + ".safetensors")
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write_bytes(weights_path, lambda tmp: save_file(state, str(tmp), metadata={"format": "pt"}))
    card = {**card, "sha256": sha256_file(weights_path), "file": weights_path.name}
    card.setdefault("created", _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    atomic_write_bytes(card_path(weights_path), lambda tmp: tmp.write_text(json.dumps(card, indent=2)))
    return card


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors from `.safetensors`, or from a `.pt`/`.pth` state dict via `torch.load(weights_only=True)`.

    A pickle that would need to run code is refused (no fallback to full unpickling).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    if path.suffix not in SUFFIXES:
        raise CheckpointError(f"{path.name}: unsupported file type {path.suffix!r}; upload .safetensors, .pt or .pth")
    if path.suffix == ".safetensors":
        try:
            return load_file(str(path), device="cpu")
        except Exception as e:  # safetensors raises its own error types for bad headers and truncation
            raise CheckpointError(f"{path.name}: not a valid safetensors file: it is damaged, truncated or another format. "
                              f"Re-save it with safetensors.torch.save_file(model.state_dict(), path).") from e
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(
            f"{path.name}: refused, it is not a plain state dict: loading it would run code or build objects "
            f"that weights-only loading forbids. Save with torch.save(model.state_dict(), path) or as .safetensors."
        ) from e
    except Exception as e:
        raise CheckpointError(f"{path.name}: not a readable PyTorch file: it is damaged, truncated or not made by "
                              f"torch.save. Save it again with torch.save(model.state_dict(), path), or as "
                              f".safetensors.") from e
    obj = _unwrapped(obj)
    if not isinstance(obj, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()):
        raise CheckpointError(f"{path.name}: expected a dict of parameter name → tensor (a state_dict); got "
                              f"{type(obj).__name__}" + (f" with keys {', '.join(map(str, list(obj)[:6]))}"
                                                         if isinstance(obj, dict) else ""))
    return obj


def _unwrapped(obj):
    """The state dict inside a training script's checkpoint dict (see WRAPPER_KEYS), or `obj` itself."""
    while isinstance(obj, dict) and not all(isinstance(v, torch.Tensor) for v in obj.values()):
        inner = next((obj[k] for k in WRAPPER_KEYS if isinstance(obj.get(k), dict)), None)
        if inner is None:
            return obj
        obj = inner
    return obj


def normalised_keys(state: dict[str, torch.Tensor], architecture: str | None = None) -> dict[str, torch.Tensor]:
    """Keys as the model names them: wrapper prefixes stripped (`module.`, `_orig_mod.`), auxiliary-classifier
    weights of models the registry builds without them dropped."""
    out = {}
    aux = AUX_KEY_PREFIXES.get(architecture or "", ())
    for k, v in state.items():
        while k.startswith(WRAPPER_PREFIXES):
            k = k.split(".", 1)[1]
        if not aux or not k.startswith(aux):
            out[k] = v
    return out


def check_state_dict(model: nn.Module, state: dict[str, torch.Tensor], name: str = "checkpoint",
                     architecture: str | None = None) -> dict[str, torch.Tensor]:
    """Refuse a state dict whose keys or shapes differ from the model's, listing every difference.

    Returns the state dict with normalised keys (`normalised_keys`), ready for `load_state_dict`.
    """
    expected = model.state_dict()
    state = normalised_keys(state, architecture)
    missing = [k for k in expected if k not in state and not k.endswith(OPTIONAL_SUFFIXES)]
    unexpected = [k for k in state if k not in expected]
    shapes = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(v.shape)}"
              for k, v in expected.items() if k in state and state[k].shape != v.shape]
    problems = []
    if missing:
        problems.append(f"missing keys ({len(missing)}): {', '.join(missing[:8])}{' …' if len(missing) > 8 else ''}")
    if unexpected:
        problems.append(f"unexpected keys ({len(unexpected)}): {', '.join(unexpected[:8])}{' …' if len(unexpected) > 8 else ''}")
    if shapes:
        problems.append(f"mis-shaped ({len(shapes)}): " + "; ".join(shapes[:8]) + (" …" if len(shapes) > 8 else ""))
    if problems:
        raise CheckpointError(
            f"{name} does not fit this architecture — " + " | ".join(problems)
            + ". Check the architecture, dataset (input shape) and number of classes you chose."
        )
    dtypes = [f"{k}: {v.dtype} vs model {expected[k].dtype}" for k, v in state.items() if v.dtype != expected[k].dtype]
    if dtypes:  # loading would cast silently (complex → real drops a part; float64/int32 are not what was trained)
        raise CheckpointError(f"{name}: tensors of the wrong dtype ({len(dtypes)}): " + "; ".join(dtypes[:5])
                              + (" …" if len(dtypes) > 5 else "") + ". Save the model's own state_dict(), e.g. "
                              "{k: v.float() for k, v in state.items()} for floating-point weights")
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(f"{name}: tensors hold NaN or inf ({', '.join(bad[:5])}); it cannot be used")
    return state


def validate_card(card: dict[str, Any], name: str = "model card") -> dict[str, Any]:
    """Check that a model card names a known architecture and the fields a model needs."""
    missing = [f for f in CARD_FIELDS if f not in card]
    if missing:
        raise CheckpointError(f"{name} lacks {', '.join(missing)}; give the architecture and dataset of the checkpoint")
    if card["architecture"] not in MODELS:
        raise CheckpointError(f"{name}: unknown architecture {card['architecture']!r}; choose one of "
                              f"{', '.join(m for m in MODELS if not m.startswith('torchvision.'))} or torchvision.NAME "
                              f"(a torchvision classification model, e.g. torchvision.resnet50)")
    return card


def load_checkpoint(path: str | Path, card: dict[str, Any] | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """Build the model from its card (beside the file, or given) and load the checked weights, on CPU, in eval mode."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    if card is None:
        cp = card_path(path)
        if not cp.is_file():
            raise CheckpointError(f"{path.name}: no model card {cp.name} beside it; say its architecture and dataset")
        try:
            card = json.loads(cp.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise CheckpointError(f"{cp.name}: unreadable model card ({e})") from e
    card = validate_card(dict(card), f"{path.name}'s card")
    state = read_state_dict(path)
    model = build_model(card["architecture"], card["input_shape"], card["num_classes"], **card.get("model_kwargs", {}))
    state = check_state_dict(model, state, path.name, card["architecture"])
    model.load_state_dict(state, strict=False)  # every key was checked; only OPTIONAL_SUFFIXES may be absent
    card = {**card, "sha256": sha256_file(path)}
    return model.eval(), card


def list_checkpoints(folder: str | Path) -> list[Path]:
    """Weights files with a model card beside them, sorted by name."""
    folder = Path(folder)
    return sorted(p for p in folder.glob("*.safetensors") if card_path(p).is_file()) if folder.is_dir() else []
