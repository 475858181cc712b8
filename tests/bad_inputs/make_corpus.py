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
import zlib
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
    # issue 13: decompression and dimension bombs, headers that lie, broken archives, odd tensors and digits
    "npz_bomb.npz": ("dataset", r"(?i)x would take .* budget .*DEEPCLEAN_MAX_DATASET_MB"),
    "npz_declares_16_tib.npz": ("dataset", r"(?i)x would take 16384\.0 GiB"),
    "npz_extra_member.npz": ("dataset", r"(?i)unexpected member 'payload'.*only x, y"),
    "npz_header_lies.npz": ("dataset", r"(?i)x declares .* but the file holds"),
    "image_dimension_bomb.zip": ("dataset", r"(?i)13000×13000.*pixels per image"),
    "image_pixel_total_bomb.zip": ("dataset", r"(?i)pixels in total"),
    "bad_crc.zip": ("dataset", r"(?i)corrupt|CRC"),
    "complex_with_inf.pt": ("checkpoint", r"(?i)dtype.*complex64.*float32"),
    "float64.safetensors": ("checkpoint", r"(?i)dtype.*float64.*float32"),
    "int32.pt": ("checkpoint", r"(?i)dtype.*int32.*float32"),
    "nan.safetensors": ("checkpoint", r"(?i)NaN or inf"),
    "indices_superscript.csv": ("indices", r"(?i)'²' is not a sample index"),
    "indices_arabic_indic.csv": ("indices", r"(?i)'٣' is not a sample index"),
}


class RunsACommand:
    def __reduce__(self):
        import os

        return (os.system, (f"touch {MARKER}",))


def state_bytes(model: torch.nn.Module) -> bytes:
    from safetensors.torch import save

    return save({k: v.contiguous() for k, v in model.state_dict().items()})


def npy_header(shape: tuple, dtype: str = "|u1") -> bytes:
    """The start of a .npy file: magic, version 1.0 and a header declaring `shape` and `dtype`."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buf.getvalue()  # (the writer puts the magic and version first)


def npz(members: dict[str, bytes | tuple[tuple, int]], deflate: bool = True) -> bytes:
    """An npz written member by member: bytes as given, or (shape, n) = a uint8 header for `shape` followed
    by n zero bytes (streamed, so a huge declared array costs no memory to build)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED) as z:
        for name, member in members.items():
            with z.open(f"{name}.npy", "w", force_zip64=True) as f:
                if isinstance(member, bytes):
                    f.write(member)
                else:
                    shape, n = member
                    f.write(npy_header(shape))
                    chunk = b"\0" * 2**24
                    while n > 0:
                        f.write(chunk[: min(n, len(chunk))])
                        n -= len(chunk)
    return buf.getvalue()


def npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def png(width: int, height: int) -> bytes:
    """A grey PNG of zeros, written row by row (a 13000×13000 one is 164 KB and decodes to 169 MB)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    comp, row = zlib.compressobj(9), b"\0" * (width + 1)
    idat = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def image_zip(images: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in images.items():
            z.writestr(name, data)
    return buf.getvalue()


def pt(state: dict) -> bytes:
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()


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
    labels = npy(np.arange(64) % 2)
    files["npz_bomb.npz"] = npz({"x": ((2**13, 256, 256), 2**29), "y": npy(np.arange(2**13) % 2)})  # 512 MiB of zeros
    files["npz_declares_16_tib.npz"] = npz({"x": ((2**20, 2**12, 2**12), 64), "y": labels})
    files["npz_extra_member.npz"] = npz({"x": ((64, 8, 8), 64 * 64), "y": labels, "payload": ((2**26,), 2**26)})
    files["npz_header_lies.npz"] = npz({"x": ((64, 8, 8), 100), "y": labels})  # 4096 bytes declared, 100 held
    files["image_dimension_bomb.zip"] = image_zip({"0/a.png": png(32, 32), "1/b.png": png(32, 32),
                                                   "1/bomb.png": png(13000, 13000)})
    files["image_pixel_total_bomb.zip"] = image_zip({f"{k % 2}/{k}.png": png(7000, 7000) for k in range(11)})
    crc = bytearray(image_zip({"0/a.png": png(16, 16), "1/b.png": png(16, 16)}))
    at = crc.index(b"1/b.png") + len(b"1/b.png") + 4  # into the second member's compressed data
    crc[at] ^= 0xFF
    files["bad_crc.zip"] = bytes(crc)
    small = build_model("cnn_small", [1, 8, 8], 10).state_dict()
    complex_state = {k: v.to(torch.complex64) for k, v in small.items()}
    first = next(k for k, v in small.items() if v.is_floating_point())
    complex_state[first].view(-1)[0] = complex(float("inf"), 0.0)
    files["complex_with_inf.pt"] = pt(complex_state)
    from safetensors.torch import save

    files["float64.safetensors"] = save({k: v.double().contiguous() if v.is_floating_point() else v.contiguous()
                                         for k, v in small.items()})
    files["int32.pt"] = pt({k: v.to(torch.int32) for k, v in small.items()})
    nan = {k: v.clone().contiguous() for k, v in small.items()}
    nan[first].view(-1)[0] = float("nan")
    files["nan.safetensors"] = save(nan)
    files["indices_superscript.csv"] = "index\n3\n²\n".encode()
    files["indices_arabic_indic.csv"] = "index\n3\n٣\n".encode()
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
