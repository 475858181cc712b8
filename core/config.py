"""Helpers for the frozen configuration dataclasses that forms and CLI flags are built from."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any


def param(default: Any, help: str, **extra: Any) -> Any:
    """A dataclass field with a default and a one-line help text (shown by the CLI and the UI)."""
    return dataclasses.field(default=default, metadata={"help": help, **extra})


def field_help(f: dataclasses.Field) -> str:
    """The one-line help text of a config field."""
    return f.metadata.get("help", "")


def field_type(cls: type, f: dataclasses.Field) -> Any:
    """The resolved annotation of a dataclass field (annotations may be strings)."""
    return typing.get_type_hints(cls)[f.name]


def to_dict(cfg: Any) -> dict[str, Any]:
    """A JSON-ready dict of a config dataclass (tuples become lists)."""
    return dataclasses.asdict(cfg)


def from_dict(cls: type, values: dict[str, Any]) -> Any:
    """Build a config from a dict, ignoring None values and refusing unknown keys."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValueError(
            f"unknown {cls.__name__} option(s): {', '.join(unknown)}; known: {', '.join(sorted(names))}"
        )
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in values and values[f.name] is not None:
            kwargs[f.name] = _checked(cls.__name__, f.name, field_type(cls, f), values[f.name])
    return cls(**kwargs)


def unwrap_optional(t: Any) -> tuple[Any, bool]:
    """(inner type, whether None is allowed) of an annotation such as `int | None`."""
    if typing.get_origin(t) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(t) if a is not type(None)]
        return args[0], len(args) < len(typing.get_args(t))
    return t, False


def _checked(owner: str, name: str, annotation: Any, v: Any) -> Any:
    """`v` as the field's type, or a ValueError naming the option and what it takes (configs come from JSON)."""
    t, _ = unwrap_optional(annotation)
    if typing.get_origin(t) is tuple and isinstance(v, (list, tuple)):
        return tuple(v)
    ok = {bool: isinstance(v, bool), int: isinstance(v, int) and not isinstance(v, bool),
          float: isinstance(v, (int, float)) and not isinstance(v, bool), str: isinstance(v, str)}.get(t)
    if ok is False:
        raise ValueError(f"{owner} option {name}: {v!r} is not a valid {t.__name__}")
    return float(v) if t is float else v
