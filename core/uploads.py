"""User uploads (checkpoints, datasets): hashed, checked in a separate process, then kept under
DEEPCLEAN_HOME/uploads.

An upload is untrusted. Its bytes go to a private temporary name (`uploads/.incoming/`), and a child process
with a memory limit (DEEPCLEAN_UPLOAD_MEMORY_MB beyond the loaded libraries, default 3072, as RLIMIT_DATA) and
a time limit (DEEPCLEAN_UPLOAD_TIMEOUT_S, default 300) runs every check on it: the checkpoint's keys, shapes and dtypes
against the chosen architecture and dataset (`.pt/.pth` only through `torch.load(weights_only=True)`), or the
dataset through its loader (headers and budgets before any decompression). Whatever happens there, a refusal,
a crash, running out of memory or time, is a refusal here with a message naming the problem and the fix;
the server process never parses the untrusted bytes first. The child is forked from a checker process
that has the checking code imported already (started with the first upload), so a check starts at once. Only a file that passed is given its lasting,
content-addressed name, and an upload only ever removes its own temporary file, never a file another
upload made.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from . import paths
from .cards import card_for
from .checkpoint import SUFFIXES as CHECKPOINT_SUFFIXES
from .checkpoint import CheckpointError, atomic_write_bytes, card_path
from .data import Dataset, DataError, load_dataset

DATASET_SUFFIXES = {".npz": "npz", ".zip": "image_folder"}
DEFAULT_MAX_MB = 512
DEFAULT_MEMORY_MB = 3072
DEFAULT_TIMEOUT_S = 300.0
ROOT = Path(__file__).resolve().parents[1]


class UploadError(ValueError):
    """An upload that cannot be used; the message names the problem and the fix."""


def max_bytes() -> int:
    """Largest upload accepted (DEEPCLEAN_MAX_UPLOAD_MB, default 512 MB)."""
    return int(float(os.environ.get("DEEPCLEAN_MAX_UPLOAD_MB", DEFAULT_MAX_MB)) * 2**20)


def memory_limit_mb() -> float:
    """Memory a check may allocate beyond the libraries already loaded (DEEPCLEAN_UPLOAD_MEMORY_MB, default 3072)."""
    return float(os.environ.get("DEEPCLEAN_UPLOAD_MEMORY_MB", DEFAULT_MEMORY_MB))


def timeout_s() -> float:
    """Seconds the checking process may run (DEEPCLEAN_UPLOAD_TIMEOUT_S, default 300)."""
    return float(os.environ.get("DEEPCLEAN_UPLOAD_TIMEOUT_S", DEFAULT_TIMEOUT_S))


def uploads_dir() -> Path:
    d = paths.home() / "uploads"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _receive(data: bytes, filename: str, allowed: tuple[str, ...]) -> tuple[Path, str]:
    """Refuse wrong types and sizes, then write the bytes to a private temporary name; returns (it, sha256)."""
    suffix = Path(filename).suffix.lower()
    if suffix not in allowed:
        raise UploadError(f"{filename}: unsupported file type {suffix or '(none)'}; upload one of {', '.join(allowed)}")
    if len(data) > max_bytes():
        raise UploadError(f"{filename}: {len(data) / 2**20:.1f} MB is over the {max_bytes() / 2**20:.0f} MB upload "
                          f"limit; raise DEEPCLEAN_MAX_UPLOAD_MB or upload a smaller file")
    if not data:
        raise UploadError(f"{filename}: the file is empty")
    incoming = uploads_dir() / ".incoming"
    tmp = incoming / f"{secrets.token_hex(8)}{suffix}"
    try:
        incoming.mkdir(exist_ok=True)
        atomic_write_bytes(tmp, lambda t: t.write_bytes(data))
    except (CheckpointError, OSError) as e:
        raise UploadError(f"{filename}: could not be stored: {e}") from e
    return tmp, hashlib.sha256(data).hexdigest()


def _stem(filename: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(filename).stem)[:60] or "upload"


def check_here(task: dict[str, Any]) -> dict[str, Any]:
    """Run one upload's checks in this process (a checking child's side): {"ok": True, ...} or the refusal."""
    from .checkpoint import load_checkpoint

    try:
        if task["kind"] == "checkpoint":
            _, card = load_checkpoint(task["path"], task["card"])
            return {"ok": True, "card": card}
        ds = load_dataset(task["loader"], path=task["path"])
        return {"ok": True, "summary": {"train": len(ds.y_train), "test": len(ds.y_test), "classes": ds.num_classes,
                                        "input_shape": list(ds.input_shape)}}
    except (CheckpointError, DataError, UploadError) as e:
        return {"ok": False, "message": str(e)}


def _vm_data() -> int:
    """This process's data segment (what RLIMIT_DATA counts), in bytes; 0 where /proc cannot tell."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmData:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _run_one(request: dict[str, Any]) -> dict[str, Any]:
    """In the checker: fork a child for one check, give it RLIMIT_DATA (what is loaded already plus the
    allowance) and a deadline, and report its answer, or how it ended."""
    import resource
    import select
    import signal
    import time

    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: everything it meets is untrusted input
        os.close(r)
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # stdout is the checker's channel to the server
        try:
            for name in [k for k in os.environ if k.startswith("DEEPCLEAN_")]:  # the server's settings now
                del os.environ[name]
            os.environ.update(request["env"])
            limit = _vm_data() + int(request["memory_mb"] * 2**20)
            resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
            answer = check_here(request["task"])
        except BaseException as e:  # noqa: BLE001 - whatever happens is the answer
            text = f"{type(e).__name__}: {e}"
            answer = {"ok": False, "memory": isinstance(e, MemoryError) or "Cannot allocate memory" in text,
                      "message": text}
        try:
            os.write(w, json.dumps(answer, default=str).encode())
        finally:
            os._exit(0)
    os.close(w)
    deadline, data = time.monotonic() + request["timeout_s"], b""
    answer: dict[str, Any] | None = None
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            os.kill(pid, signal.SIGKILL)
            answer = {"ok": False, "timeout": True}
            break
        ready, _, _ = select.select([r], [], [], left)
        if ready:
            chunk = os.read(r, 1 << 16)
            if not chunk:
                break
            data += chunk
    os.close(r)
    _, status = os.waitpid(pid, 0)
    if answer is None:
        try:
            answer = json.loads(data.decode("utf-8", "replace"))
        except ValueError:
            sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
            answer = {"ok": False, "crashed": f"was killed by signal {sig}" if sig else
                      f"exited with status {os.WEXITSTATUS(status)}", "memory": sig == signal.SIGKILL}
    return answer


def serve_checks() -> None:
    """The checker process: `python -c "from core.uploads import serve_checks; serve_checks()"`. With the
    checking modules imported once, it forks a fresh child per request (a line of JSON on stdin) and writes
    each answer as a line of JSON on stdout; it never reads an upload itself, and ends with its stdin."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server's Ctrl-C is the server's to handle
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        try:
            answer = _run_one(json.loads(line))
        except Exception as e:  # noqa: BLE001 - a request that cannot even be run is refused, not fatal
            answer = {"ok": False, "crashed": f"could not run ({type(e).__name__}: {e})"}
        print(json.dumps(answer, default=str), flush=True)


class Checker:
    """The server's connection to its checker process, started on first use (it imports torch once, so
    every later check starts in milliseconds) and again if it ever dies. Checks run one at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None

    def _ensure(self) -> subprocess.Popen:
        if self._proc is None or self._proc.poll() is not None:
            env = {**os.environ, "OMP_NUM_THREADS": "1",
                   "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
            self._proc = subprocess.Popen([sys.executable, "-c", "from core.uploads import serve_checks; serve_checks()"],
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT, env=env, text=True)
            if json.loads(self._proc.stdout.readline() or "{}").get("ready") is not True:
                self._proc.kill()
                self._proc = None
                raise OSError("the upload checker did not start")
        return self._proc

    def run(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            proc = self._ensure()
            try:
                proc.stdin.write(json.dumps(request) + "\n")
                proc.stdin.flush()
                line = proc.stdout.readline()
            except OSError:
                line = ""
            if not line:  # the checker itself died: start a new one next time
                proc.kill()
                self._proc = None
                return {"ok": False, "crashed": "ended with the checker process"}
            return json.loads(line)


_checker = Checker()


def check_in_child(task: dict[str, Any], filename: str) -> dict[str, Any]:
    """Run the checks of `task` in a child process under the memory and time limits; returns its answer,
    or raises UploadError for a refusal, a crash or a limit reached."""
    limit_mb, limit_s = memory_limit_mb(), timeout_s()
    env = {k: v for k, v in os.environ.items() if k.startswith("DEEPCLEAN_")}
    try:
        answer = _checker.run({"task": task, "env": env, "memory_mb": limit_mb, "timeout_s": limit_s})
    except (OSError, ValueError) as e:
        raise UploadError(f"{filename}: could not be checked ({e}); the file was refused, try again") from e
    if answer.get("timeout"):
        raise UploadError(f"{filename}: checking it took longer than {limit_s:g} s, so it was stopped and the file "
                          f"refused; upload a smaller file, or raise DEEPCLEAN_UPLOAD_TIMEOUT_S")
    if answer.get("memory"):
        raise UploadError(f"{filename}: checking it needs more memory than the {limit_mb:g} MB allowed, so the file "
                          f"was refused; upload a smaller file, or raise DEEPCLEAN_UPLOAD_MEMORY_MB")
    if answer.get("crashed"):
        raise UploadError(f"{filename}: the check {answer['crashed']}; the file was refused")
    if not answer.get("ok"):
        tmp = Path(task["path"])
        raise UploadError(str(answer.get("message", "refused")).replace(str(tmp), filename).replace(tmp.name, filename))
    return answer


def _keep(tmp: Path, final: Path) -> Path:
    """Give a checked temporary file its lasting name (the same bytes already there are simply reused)."""
    if final.is_file():
        tmp.unlink(missing_ok=True)
    else:
        os.replace(tmp, final)
    return final


def save_checkpoint_upload(data: bytes, filename: str, architecture: str, dataset: Dataset,
                           data_path: str | None = None, *, preset: str | None = None,
                           size: int | None = None) -> tuple[Path, dict[str, Any]]:
    """Check an uploaded checkpoint's keys, shapes and dtypes against `architecture` on `dataset` (in the
    checking process), keep it and write its model card beside it; `preset` and `size` say how its inputs
    were prepared in training (core/cards.py `card_for`). Returns (path, card)."""
    tmp, digest = _receive(data, filename, CHECKPOINT_SUFFIXES)
    try:
        try:
            card = {**card_for(architecture, dataset, data_path, preset=preset, size=size),
                    "source": f"upload: {filename}"}
        except ValueError as e:
            raise UploadError(f"{filename}: {e}") from e
        checked = check_in_child({"kind": "checkpoint", "path": str(tmp), "card": card}, filename)["card"]
        # the same bytes may be uploaded again as another architecture or dataset: one file and card per claim
        claim = json.dumps({k: checked.get(k) for k in ("architecture", "dataset", "data_path", "num_classes",
                                                        "input_shape", "normalisation", "model_kwargs")}, sort_keys=True, default=str)
        final = uploads_dir() / f"{digest[:12]}-{_stem(filename)}{tmp.suffix}"
        if final.is_file() and card_path(final).is_file():
            try:
                theirs = json.loads(card_path(final).read_text())
            except (OSError, ValueError):
                theirs = {}
            mine = json.loads(claim)
            if any(theirs.get(k) != v for k, v in mine.items()):
                tag = hashlib.sha256(claim.encode()).hexdigest()[:6]
                final = final.with_name(f"{digest[:12]}-{tag}-{_stem(filename)}{tmp.suffix}")
        final = _keep(tmp, final)
        card = {**checked, "file": final.name}
        if not card_path(final).is_file():
            atomic_write_bytes(card_path(final), lambda t: t.write_text(json.dumps(card, indent=2)))
        return final, json.loads(card_path(final).read_text())
    except CheckpointError as e:  # writing the card (a full disk)
        raise UploadError(f"{filename}: {e}") from e
    finally:
        tmp.unlink(missing_ok=True)


def dataset_kind(path: str | Path) -> str:
    """The dataset loader an uploaded data file is read by (`npz` or `image_folder`), from its suffix."""
    suffix = Path(path).suffix.lower()
    if suffix not in DATASET_SUFFIXES:
        raise UploadError(f"{Path(path).name}: unsupported dataset file; upload one of {', '.join(DATASET_SUFFIXES)}")
    return DATASET_SUFFIXES[suffix]


def save_dataset_upload(data: bytes, filename: str) -> tuple[Path, Dataset]:
    """Check an uploaded `.npz` or image-folder `.zip` in full (every check of its loader, in the checking
    process), keep it, and load it here."""
    tmp, digest = _receive(data, filename, tuple(DATASET_SUFFIXES))
    try:
        check_in_child({"kind": "dataset", "loader": dataset_kind(tmp), "path": str(tmp)}, filename)
        final = _keep(tmp, uploads_dir() / f"{digest[:12]}-{_stem(filename)}{tmp.suffix}")
    finally:
        tmp.unlink(missing_ok=True)
    try:
        return final, load_dataset(dataset_kind(final), path=final)
    except DataError as e:  # it passed in the child: only a changed environment gets here
        raise UploadError(str(e)) from e


def list_uploaded_checkpoints() -> list[Path]:
    """Uploaded checkpoints that passed validation (they have a card beside them)."""
    d = paths.home() / "uploads"
    return sorted(p for p in d.iterdir() if p.suffix in CHECKPOINT_SUFFIXES and card_path(p).is_file()) if d.is_dir() else []


def list_uploaded_datasets() -> list[Path]:
    """Uploaded datasets that passed validation (only those get a name outside `.incoming/`)."""
    d = paths.home() / "uploads"
    return sorted(p for p in d.iterdir() if p.is_file() and p.suffix.lower() in DATASET_SUFFIXES
                  and not p.name.startswith(".")) if d.is_dir() else []


def display_name(path: str | Path) -> str:
    """A checkpoint as people know it: the name it was uploaded with ("mine.pt (uploaded)"), else its file name."""
    path = Path(path)
    try:
        source = json.loads(card_path(path).read_text()).get("source", "")
    except (OSError, ValueError, AttributeError):
        return path.name
    return f"{source.removeprefix('upload: ')} (uploaded)" if str(source).startswith("upload: ") else path.name
