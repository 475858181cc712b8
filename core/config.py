"""Configuration dataclasses: each field declares its help text, limits and choices once.

A config class subclasses `Config` and declares fields with `param(...)`. Limits are checked once, when a
config is built from any source (code, JSON from the store, CLI flags, UI forms), with scikit-learn-style
messages ("lr must be > 0; got -1.0"). `parse` is the one way from strings or JSON values to a config; the
CLI builds its flags and the dashboard its forms from `options(cls)`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from dataclasses import dataclass
from typing import Any, Mapping

# Text that means "no value" for an optional field (an empty form box, or `--set m.x=none`).
EMPTY_TEXT = ("", "none")
TRUE_TEXT = ("1", "true", "yes", "on")
FALSE_TEXT = ("0", "false", "no", "off")


class ConfigError(ValueError):
    """A configuration value that is unknown, of the wrong type or out of its limits; says which and why."""


def param(default: Any, help: str, *, low: float | None = None, high: float | None = None, low_open: bool = False,
          high_open: bool = False, choices: tuple[Any, ...] | None = None, words: tuple[str, ...] = ()) -> Any:
    """A config field: its default, one line of help, and optional limits (`low`/`high`, each inclusive unless
    `*_open`) or a closed set of `choices`. `words` are strings a number field also takes (e.g. "auto")."""
    meta = {"help": help, "low": low, "high": high, "low_open": low_open, "high_open": high_open,
            "choices": tuple(choices) if choices is not None else None, "words": tuple(words)}
    return dataclasses.field(default=default, metadata=meta)


@dataclass(frozen=True)
class Option:
    """One field of a config class, as the CLI, the forms and the checks see it."""

    name: str
    kind: type  # bool, int, float, str or tuple
    item: type | None  # the element type of a tuple field
    optional: bool  # None is allowed (it means "automatic" or "off", as the help says)
    default: Any
    help: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[Any, ...] | None = None
    words: tuple[str, ...] = ()  # strings a number field also takes, as scikit-learn's StrOptions beside an Interval

    @property
    def label(self) -> str:
        return self.name.replace("_", " ")

    def limits(self) -> str:
        """The allowed values in words, e.g. "> 0", "in (0, 1]", "one of 'retain', 'train'" ("" when free)."""
        words = " or " + ", ".join(repr(w) for w in self.words) if self.words else ""
        return self._bounds() + words

    def _bounds(self) -> str:
        if self.choices is not None:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.low is not None and self.high is not None:
            return f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"
        if self.low is not None:
            return f"{'>' if self.low_open else '>='} {self.low:g}"
        if self.high is not None:
            return f"{'<' if self.high_open else '<='} {self.high:g}"
        return ""

    def violation(self, value: Any) -> str | None:
        """Why `value` (already of the field's type) is not allowed, or None."""
        if value is None:
            return None if self.optional else "needs a value"
        if isinstance(value, str) and value in self.words:
            return None
        if self.kind in (int, float) and isinstance(value, str):
            return f"must be {self.limits()}"
        if self.choices is not None:
            return None if value in self.choices else f"must be {self.limits()}"
        if self.kind in (int, float):
            v = float(value)
            if math.isnan(v):
                return "must be a number" + (f" {self._bounds()}" if self._bounds() else "")
            below = self.low is not None and (v <= self.low if self.low_open else v < self.low)
            above = self.high is not None and (v >= self.high if self.high_open else v > self.high)
            if below or above:
                return f"must be {self._bounds()}"
        return None

    def convert(self, value: Any, owner: str) -> Any:
        """`value` (a string from a flag or form, or a JSON value) as this field's type, or a ConfigError."""
        if value is None or (isinstance(value, str) and value.strip().lower() in EMPTY_TEXT and self.kind is not str):
            if self.optional:
                return None
            raise ConfigError(f"{owner} option {self.name} needs a value ({self.help})")
        if isinstance(value, str) and value.strip().lower() in self.words:
            return value.strip().lower()
        try:
            return self._convert(value)
        except (TypeError, ValueError):
            kind = f"list of {self.item.__name__}" if self.kind is tuple else self.kind.__name__
            raise ConfigError(f"{owner} option {self.name}: {value!r} is not a valid {kind}") from None

    def _convert(self, value: Any) -> Any:
        if self.kind is tuple:
            items = [v for v in value.split(",") if v.strip()] if isinstance(value, str) else list(value)
            return tuple(_scalar(self.item, v) for v in items)
        return _scalar(self.kind, value)


def _scalar(kind: type, value: Any) -> Any:
    """`value` as bool/int/float/str; strings are parsed, other values must already be of a fitting type."""
    if isinstance(value, str):
        text = value.strip()
        if kind is bool:
            if text.lower() in TRUE_TEXT:
                return True
            if text.lower() in FALSE_TEXT:
                return False
            raise ValueError(text)
        return kind(text) if kind is not str else value
    if kind is bool:
        if isinstance(value, bool):
            return value
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    raise TypeError(type(value).__name__)


def _unwrap_optional(t: Any) -> tuple[Any, bool]:
    """(inner type, whether None is allowed) of an annotation such as `int | None`."""
    if typing.get_origin(t) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(t) if a is not type(None)]
        return args[0], len(args) < len(typing.get_args(t))
    return t, False


@functools.cache
def options(cls: type) -> tuple[Option, ...]:
    """The fields of a config class with their types, defaults, help and limits, in declaration order."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        t, optional = _unwrap_optional(hints[f.name])
        item = None
        if typing.get_origin(t) is tuple:
            item, t = typing.get_args(t)[0], tuple
        if typing.get_origin(t) in (typing.Union, types.UnionType):  # a number that also takes words: `float | str`
            t = next(a for a in typing.get_args(t) if a is not str)
        meta = f.metadata
        out.append(Option(f.name, t, item, optional, f.default, meta.get("help", ""), meta.get("low"), meta.get("high"),
                          meta.get("low_open", False), meta.get("high_open", False), meta.get("choices"),
                          meta.get("words", ())))
    return tuple(out)


def option(cls: type, name: str) -> Option:
    """One declared option of a config class, by name."""
    for opt in options(cls):
        if opt.name == name:
            return opt
    raise ConfigError(f"{cls.__name__} has no option {name!r}")


class Config:
    """Base of every configuration dataclass: checks each field against its declared limits on construction."""

    def __post_init__(self) -> None:
        for opt in options(type(self)):
            value = getattr(self, opt.name)
            problem = opt.violation(value)
            if problem:
                raise ConfigError(f"{opt.name} {problem}" + ("" if value is None else f"; got {value!r}"))


def parse(cls: type, values: Mapping[str, Any], *, owner: str = "") -> Any:
    """Build `cls` from option values: strings (CLI flags, `--set`, forms) or JSON values (the run store).

    Unknown names are refused with the list of known ones; missing names keep their defaults; every value
    is converted to its field's type and checked against its limits.
    """
    owner = owner or cls.__name__
    opts = {o.name: o for o in options(cls)}
    unknown = sorted(set(values) - set(opts))
    if unknown:
        raise ConfigError(f"{owner} has no option {unknown[0]!r}; it has: {', '.join(opts)}")
    kwargs = {name: opts[name].convert(v, owner) for name, v in values.items()}
    try:
        return cls(**kwargs)
    except ConfigError as e:
        raise ConfigError(f"{owner} option {e}") from None


def to_dict(cfg: Any) -> dict[str, Any]:
    """A JSON-ready dict of a config (tuples become lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(cfg).items()}
