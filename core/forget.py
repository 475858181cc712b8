"""Forget specs: which training samples to forget (classes, a seeded random subset, or indices)."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

KINDS = ("classes", "random", "indices")
INTEGER = re.compile(r"-?[0-9]+")


class ForgetSpecError(ValueError):
    """A forget spec that cannot be served; the message says why and what to choose instead."""


@dataclass(frozen=True)
class ForgetSpec:
    """What to forget, over the training split: whole classes, a random fraction/count, or explicit indices."""

    kind: str
    classes: tuple[int, ...] = ()
    fraction: float | None = None
    count: int | None = None
    seed: int = 0
    indices: tuple[int, ...] = ()

    @classmethod
    def of_classes(cls, classes) -> "ForgetSpec":
        return cls("classes", classes=tuple(sorted({int(c) for c in classes})))

    @classmethod
    def random(cls, fraction: float | None = None, count: int | None = None, seed: int = 0) -> "ForgetSpec":
        return cls("random", fraction=fraction, count=count, seed=int(seed))

    @classmethod
    def of_indices(cls, indices) -> "ForgetSpec":
        return cls("indices", indices=tuple(sorted({int(i) for i in indices})))

    def to_dict(self) -> dict:
        """Only the fields this kind uses, so equal specs serialise equally."""
        d = asdict(self)
        keep = {"classes": ("classes",), "random": ("fraction", "count", "seed"), "indices": ("indices",)}[self.kind]
        return {"kind": self.kind, **{k: (list(d[k]) if isinstance(d[k], tuple) else d[k]) for k in keep if d[k] is not None}}

    @classmethod
    def from_dict(cls, d: dict) -> "ForgetSpec":
        kind = d.get("kind")
        if kind == "classes":
            return cls.of_classes(d.get("classes", ()))
        if kind == "random":
            return cls.random(d.get("fraction"), d.get("count"), d.get("seed", 0))
        if kind == "indices":
            return cls.of_indices(d.get("indices", ()))
        raise ForgetSpecError(f"unknown forget kind {kind!r}; use one of {', '.join(KINDS)}")

    def key(self) -> str:
        """A stable short hash, used in cache keys."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]

    def describe(self, names: Sequence[str] | None = None, noun: str = "class") -> str:
        """A short human-readable summary, e.g. "class 0", "digits 0 and 3" (with the dataset's class `names`
        and its `noun`), "random 10% (seed 0)"."""
        if self.kind == "classes":
            items = [names[c] if names is not None and 0 <= c < len(names) else str(c) for c in self.classes]
            if len(items) == 1:
                return f"{noun} {items[0]}"
            return f"{plural(noun)} {', '.join(items[:-1])} and {items[-1]}"
        if self.kind == "random":
            amount = f"{self.fraction:.0%}" if self.fraction is not None else f"{self.count} samples"
            return f"random {amount} (seed {self.seed})"
        return f"{len(self.indices)} chosen samples"


def plural(noun: str) -> str:
    """An English noun's plural ("class" → "classes", "digit" → "digits")."""
    return noun + ("es" if noun.endswith(("s", "sh", "ch", "x")) else "s")


def resolve(spec: ForgetSpec, y_train, num_classes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Forget and retain index arrays over the training split; refuses empty or total forget sets."""
    y = np.asarray(y_train)
    n = len(y)
    if spec.kind == "classes":
        if not spec.classes:
            raise ForgetSpecError("no class chosen: name at least one class to forget")
        k = num_classes if num_classes is not None else int(y.max()) + 1
        bad = [c for c in spec.classes if c < 0 or c >= k]
        if bad:
            raise ForgetSpecError(f"unknown class(es) {bad}; this dataset has classes 0..{k - 1}")
        mask = np.isin(y, spec.classes)
        if not mask.any():
            raise ForgetSpecError(f"classes {list(spec.classes)} have no training samples; choose others")
    elif spec.kind == "random":
        if (spec.fraction is None) == (spec.count is None):
            raise ForgetSpecError("give either a fraction (0 < f < 1) or a count of samples to forget, not both")
        if spec.fraction is not None:
            if not 0.0 < spec.fraction < 1.0:
                raise ForgetSpecError(f"fraction {spec.fraction} is out of range; choose 0 < fraction < 1")
            size = int(round(spec.fraction * n))
        else:
            size = int(spec.count)
        if not 0 < size < n:
            raise ForgetSpecError(f"{size} samples to forget out of {n}; choose between 1 and {n - 1}")
        chosen = np.random.default_rng(spec.seed).choice(n, size=size, replace=False)
        mask = np.zeros(n, dtype=bool)
        mask[chosen] = True
    elif spec.kind == "indices":
        if not spec.indices:
            raise ForgetSpecError("no sample chosen: give at least one index to forget")
        idx = np.asarray(spec.indices)
        bad = idx[(idx < 0) | (idx >= n)]
        if len(bad):
            raise ForgetSpecError(f"index(es) {bad[:10].tolist()} out of range; the training split has indices 0..{n - 1}")
        mask = np.zeros(n, dtype=bool)
        mask[idx] = True
    else:
        raise ForgetSpecError(f"unknown forget kind {spec.kind!r}; use one of {', '.join(KINDS)}")
    if mask.all():
        raise ForgetSpecError("that would forget every training sample; leave something to retain")
    return np.flatnonzero(mask), np.flatnonzero(~mask)


def read_indices_csv(text: str) -> ForgetSpec:
    """Parse a CSV (or whitespace list) of integer indices; refuses text with the offending token."""
    tokens = [t.strip() for t in text.replace("\n", ",").replace(";", ",").replace("\t", ",").split(",")]
    tokens = [t for t in tokens if t]
    if tokens and not INTEGER.fullmatch(tokens[0]) and not any(c.isdigit() for c in tokens[0]):
        tokens = tokens[1:]  # a header such as "index"
    out = []
    for t in tokens:
        if not INTEGER.fullmatch(t):  # ASCII digits only: "²" and "٣" pass str.isdigit() and int() reads "٣"
            raise ForgetSpecError(f"{t!r} is not a sample index; the file must hold integers written with the digits "
                                  f"0-9, one per line or comma-separated")
        out.append(int(t))
    if not out:
        raise ForgetSpecError("the index file holds no indices")
    return ForgetSpec.of_indices(out)
