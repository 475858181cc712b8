"""A user's own images: a zip with one folder per class, read in memory (zip-slip and bomb safe).

An upload is untrusted: member names are checked (zip slip), sizes and compression ratios bounded before
anything is extracted (zip bombs), and every image's width × height read from its header and bounded, per
image and over the whole zip, before its pixels are decoded (dimension bombs: a 164 KB PNG can declare
13000×13000). Images are shrunk to 32×32 anyway, so large photos gain nothing; resize them first.
"""

from __future__ import annotations

import io
import warnings
import zipfile
import zlib
from pathlib import Path, PurePosixPath

import numpy as np

from .base import USER_RECIPE, Dataset, DataError, from_arrays, stratified_split

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"}
MAX_FILES = 200_000
MAX_TOTAL_BYTES = 2 * 1024**3  # uncompressed
MAX_RATIO = 200  # uncompressed ÷ compressed, per member: beyond this it is a bomb, not an image
IMAGE_SIZE = 32
MAX_IMAGE_PIXELS = 50_000_000     # per image (a 50-megapixel photo); Pillow's own limit is made an error too
MAX_TOTAL_PIXELS = 500_000_000    # over the zip, decoded one image at a time (~10-20 s of decoding on a CPU core)
TEST_FRACTION = 0.2
SPLIT_SEED = 0


def _safe_members(zf: zipfile.ZipFile, name: str) -> list[zipfile.ZipInfo]:
    infos = zf.infolist()
    if len(infos) > MAX_FILES:
        raise DataError(f"{name}: {len(infos)} entries; at most {MAX_FILES} are accepted")
    total = 0
    for info in infos:
        p = PurePosixPath(info.filename.replace("\\", "/"))
        if p.is_absolute() or ".." in p.parts or (p.parts and ":" in p.parts[0]):
            raise DataError(f"{name}: entry {info.filename!r} points outside the archive (zip slip); refused")
        total += info.file_size
        if info.compress_size and info.file_size / info.compress_size > MAX_RATIO and info.file_size > 1024**2:
            raise DataError(f"{name}: entry {info.filename!r} expands {info.file_size // info.compress_size}× (a zip bomb?); refused")
    if total > MAX_TOTAL_BYTES:
        raise DataError(f"{name}: expands to {total / 1024**3:.1f} GiB; at most {MAX_TOTAL_BYTES / 1024**3:.0f} GiB are accepted")
    return [i for i in infos if not i.is_dir() and PurePosixPath(i.filename).suffix.lower() in IMAGE_SUFFIXES
            and not PurePosixPath(i.filename).name.startswith(".") and "__MACOSX" not in i.filename]


def _read(zf: zipfile.ZipFile, member: zipfile.ZipInfo, name: str, limit: int = -1) -> bytes:
    """A member's bytes (the first `limit` of them), a corrupt member refused with a message."""
    try:
        with zf.open(member) as f:
            return f.read(limit)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as e:
        raise DataError(f"{name}: {member.filename} is corrupt in the zip ({e}); zip the folder again") from e


def _check_pixels(zf: zipfile.ZipFile, members: list[zipfile.ZipInfo], name: str) -> None:
    """Refuse, from the image headers alone and before any pixel is decoded, an image over MAX_IMAGE_PIXELS
    or images that add up to more than MAX_TOTAL_PIXELS."""
    from PIL import Image, UnidentifiedImageError

    total = 0
    for m in members:
        head = _read(zf, m, name, 1 << 20)  # the header sits in the first bytes (a JPEG's after its EXIF)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # we judge the size ourselves
                with Image.open(io.BytesIO(head)) as im:
                    w, h = im.size
        except Image.DecompressionBombError as e:  # over twice Pillow's limit: refused at open
            raise DataError(f"{name}: {m.filename} is over {MAX_IMAGE_PIXELS:,} pixels per image ({e}); images are "
                            f"shrunk to {IMAGE_SIZE}×{IMAGE_SIZE}, so resize them first") from e
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
            raise DataError(f"{name}: {m.filename} is not a readable image ({e})") from e
        if w * h > MAX_IMAGE_PIXELS:
            raise DataError(f"{name}: {m.filename} is {w}×{h}, over {MAX_IMAGE_PIXELS:,} pixels per image; images are "
                            f"shrunk to {IMAGE_SIZE}×{IMAGE_SIZE}, so resize them first")
        total += w * h
        if total > MAX_TOTAL_PIXELS:
            raise DataError(f"{name}: the images add up to more than {MAX_TOTAL_PIXELS:,} pixels in total (reached at "
                            f"{m.filename}); resize them (they are shrunk to {IMAGE_SIZE}×{IMAGE_SIZE} anyway) or "
                            f"upload fewer")


def load(path: Path, download: bool = False) -> Dataset:
    """Read class folders from a zip (optionally under one top folder), resize to 32×32, split 80/20."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise DataError(f"{path.name}: not a readable zip ({e}); zip a folder with one sub-folder per class") from e
    with zf:
        members = _safe_members(zf, path.name)
        if not members:
            raise DataError(f"{path.name}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) found; put them in one folder per class")
        parts = [PurePosixPath(m.filename).parts for m in members]
        tops = {p[0] for p in parts}
        depth = 1 if len(tops) == 1 and all(len(p) >= 3 for p in parts) else 0
        if any(len(p) != depth + 2 for p in parts):
            raise DataError(f"{path.name}: images must sit directly in one folder per class (class/image.png)")
        labels_txt = [p[depth] for p in parts]
        classes = sorted(set(labels_txt))
        if len(classes) < 2:
            raise DataError(f"{path.name}: found {len(classes)} class folder(s); unlearning needs at least 2")
        _check_pixels(zf, members, path.name)
        images, grey = [], True
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)  # Pillow's own limit: an error too
            for m in members:
                try:
                    with Image.open(io.BytesIO(_read(zf, m, path.name))) as im:
                        im.load()
                        grey &= im.mode in ("L", "1", "I", "I;16")
                        images.append(im.convert("RGB").resize((IMAGE_SIZE, IMAGE_SIZE)))
                except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError,
                        Image.DecompressionBombWarning) as e:
                    raise DataError(f"{path.name}: {m.filename} is not a readable image ({e})") from e
    arr = np.stack([np.asarray(im.convert("L") if grey else im, dtype=np.uint8) for im in images])
    y = np.array([classes.index(c) for c in labels_txt], dtype=np.int64)
    x_tr, x_te, y_tr, y_te = stratified_split(arr, y, TEST_FRACTION, SPLIT_SEED)
    return from_arrays("image_folder", x_tr, y_tr, x_te, y_te, classes, USER_RECIPE, str(path))
