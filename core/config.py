"""Helpers for the frozen configuration dataclasses that forms and CLI flags are built from."""

from __future__ import annotations

import dataclasses
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
            v = values[f.name]
            origin = typing.get_origin(field_type(cls, f))
            kwargs[f.name] = tuple(v) if origin is tuple and isinstance(v, list) else v
    return cls(**kwargs)
