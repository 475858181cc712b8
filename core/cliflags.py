"""Command-line flags generated from the config dataclasses (the UI builds its forms from the same)."""

from __future__ import annotations

import argparse
import dataclasses
import typing
from typing import Any

from .config import field_help, field_type, unwrap_optional


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


def parse_assignments(items: list[str] | None) -> dict[str, dict[str, str]]:
    """`["deepclean.gamma=1.5", ...]` → `{"deepclean": {"gamma": "1.5"}}` (the `--set` flag)."""
    out: dict[str, dict[str, str]] = {}
    for item in items or []:
        target, eq, value = item.partition("=")
        method, dot, name = target.partition(".")
        if not eq or not dot or not method or not name:
            raise ValueError(f"--set {item!r}: write METHOD.OPTION=VALUE, e.g. deepclean.gamma=1.5")
        out.setdefault(method, {})[name.replace("-", "_")] = value
    return out


def config_from_strings(cls: type, values: dict[str, str], owner: str = "") -> Any:
    """Build `cls` from option strings, parsed by each field's type; unknown names and bad values say so."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for name, text in values.items():
        if name not in fields:
            raise ValueError(f"{owner or cls.__name__} has no option {name!r}; it has: {', '.join(fields)}")
        t, optional = unwrap_optional(field_type(cls, fields[name]))
        if optional and text.strip().lower() in ("", "none"):
            kwargs[name] = None
            continue
        try:
            kwargs[name] = (text.strip().lower() in ("1", "true", "yes", "on")) if t is bool else _parser_for(t)(text)
        except ValueError:
            raise ValueError(f"{owner or cls.__name__} option {name}: {text!r} is not a valid {t.__name__}") from None
    return cls(**kwargs)
