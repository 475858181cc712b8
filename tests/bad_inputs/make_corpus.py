"""Build the bad-input corpus: files a user (or an attacker) might upload, each of which must be refused.

    python tests/bad_inputs/make_corpus.py [OUT_DIR]      # default: tests/bad_inputs/corpus (git-ignored)

`CORPUS` lists every file with the entry point that receives it and a pattern its error message must
match; tests/test_bad_inputs.py builds the corpus in a temporary folder and feeds each file in.
"""

from __future__ import annotations

import io
import pickle
import struct
import sys
import zipfile
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from core.models import build_model  # noqa: E402

SHIPPED = ROOT / "checkpoints" / "digits_cnn_small.safetensors"
MARKER = Path("/tmp/deepclean_bad_input_ran")  # created only if a payload ever executes

# name: (entry point, pattern the refusal must match)
CORPUS = {
    "random_bytes.safetensors": ("checkpoint", r"(?i)safetensors|header|not a|corrupt|read"),
    "truncated.safetensors": ("checkpoint", r"(?i)truncat|corrupt|incomplete|read|header"),
    "header_corrupted.safetensors": ("checkpoint", r"(?i)header|corrupt|read"),
    "evil_pickle.pt": ("checkpoint", r"(?i)weights_only|unsupported|pickle|refus|not a state dict"),
    "other_architecture.safetensors": ("checkpoint", r"(?i)missing|unexpected|shape"),
    "other_class_count.safetensors": ("checkpoint", r"(?i)shape"),
    "zip_slip.zip": ("dataset", r"(?i)\.\.|outside|unsafe|path"),
    "zip_bomb.zip": ("dataset", r"(?i)bomb|too large|uncompressed|ratio"),
    "wrong_dtype.npz": ("dataset", r"uint8"),
    "wrong_shape.npz": ("dataset", r"(?i)shape|length|same number|dimension"),
    "not_a_zip.zip": ("dataset", r"(?i)zip"),
    "indices_text.csv": ("indices", r"(?i)not an? (integer|index|number)|abc"),
    "indices_out_of_range.csv": ("indices", r"99999"),
    "oversized.npz": ("dataset", r"(?i)upload limit"),
}


class RunsACommand:
    def __reduce__(self):
        import os

        return (os.system, (f"touch {MARKER}",))


def state_bytes(model: torch.nn.Module) -> bytes:
    from safetensors.torch import save

    return save({k: v.contiguous() for k, v in model.state_dict().items()})


def build(out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    good = SHIPPED.read_bytes()
    files: dict[str, bytes] = {
        "random_bytes.safetensors": rng.integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        "truncated.safetensors": good[: len(good) // 2],
        "header_corrupted.safetensors": struct.pack("<Q", 2**40) + good[8:],
        "evil_pickle.pt": pickle.dumps({"weight": RunsACommand()}),
        "other_architecture.safetensors": state_bytes(build_model("resnet18", [1, 8, 8], 10, width=4)),
        "other_class_count.safetensors": state_bytes(build_model("cnn_small", [1, 8, 8], 3)),
        "not_a_zip.zip": b"PK\x03\x04 this is not really a zip file",
        "indices_text.csv": b"index\n3\nabc\n5\n",
        "indices_out_of_range.csv": b"index\n3\n99999\n",
    }
    slip = io.BytesIO()
    with zipfile.ZipFile(slip, "w") as z:
        z.writestr("0/a.png", b"x")
        z.writestr("../../evil.png", b"x")
    files["zip_slip.zip"] = slip.getvalue()
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("0/bomb.png", b"\0" * (512 * 2**20))
    files["zip_bomb.zip"] = bomb.getvalue()
    for name, x, y in (("wrong_dtype.npz", rng.random((20, 8, 8)), np.repeat(np.arange(2), 10)),
                       ("wrong_shape.npz", rng.integers(0, 255, (20, 8), dtype=np.uint8), np.arange(7))):
        buf = io.BytesIO()
        np.savez(buf, x=x, y=y)
        files[name] = buf.getvalue()
    big = io.BytesIO()
    np.savez(big, x=rng.integers(0, 255, (3000, 28, 28), dtype=np.uint8), y=np.arange(3000) % 10)
    files["oversized.npz"] = big.getvalue()  # 2.3 MB: over the 1 MB limit the test sets
    paths = {}
    for name, data in files.items():
        (out / name).write_bytes(data)
        paths[name] = out / name
    assert set(paths) == set(CORPUS)
    return paths


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "corpus"
    for name, path in build(target).items():
        print(f"{path}  ({path.stat().st_size:,} bytes) → {CORPUS[name][0]}")
