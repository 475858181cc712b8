"""Command-line flags generated from the config dataclasses (the UI builds its forms from the same)."""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from typing import Any

from .config import field_help, field_type


def unwrap_optional(t: Any) -> tuple[Any, bool]:
    """(inner type, whether None is allowed) of an annotation such as `int | None`."""
    if typing.get_origin(t) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(t) if a is not type(None)]
        return args[0], len(args) < len(typing.get_args(t))
    return t, False


def _parser_for(t: Any):
    origin = typing.get_origin(t)
    if origin is tuple:
        inner = typing.get_args(t)[0]
        return lambda s: tuple(inner(v) for v in s.split(",") if v.strip()) if s.strip() else ()
    return t


def add_config_flags(parser: argparse.ArgumentParser, cls: type, prefix: str = "") -> None:
    """One `--flag` per field of `cls`, typed and explained by the field's help text."""
    group = parser.add_argument_group(f"{cls.__name__} options" + (f" (prefix --{prefix})" if prefix else ""))
    for f in dataclasses.fields(cls):
        t, optional = unwrap_optional(field_type(cls, f))
        flag = "--" + (prefix + f.name).replace("_", "-")
        help_text = field_help(f) + (f" [default: {f.default}]" if f.default is not None else "")
        if t is bool:
            group.add_argument(flag, dest=prefix + f.name, action=argparse.BooleanOptionalAction,
                               default=None, help=help_text)
        else:
            is_tuple = typing.get_origin(t) is tuple
            group.add_argument(flag, dest=prefix + f.name, type=_parser_for(t), default=None,
                               metavar="A,B,..." if is_tuple else t.__name__.upper(), help=help_text)


def config_from_args(cls: type, ns: argparse.Namespace, prefix: str = "", **overrides: Any) -> Any:
    """Build `cls` from parsed flags; flags left out keep the dataclass defaults."""
    kwargs = {f.name: getattr(ns, prefix + f.name) for f in dataclasses.fields(cls)
              if getattr(ns, prefix + f.name, None) is not None}
    kwargs.update({k: v for k, v in overrides.items() if v is not None})
    return cls(**kwargs)
