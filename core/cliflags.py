"""Command-line flags generated from the config dataclasses' declared options (the UI builds forms from the same)."""

from __future__ import annotations

import argparse
from typing import Any

from . import config as cfgmod
from .methods import DEFAULT_METHOD, get_method

_default_sweep = get_method(DEFAULT_METHOD).sweep
# An example of --set for help texts and messages: the default method's swept option.
SET_EXAMPLE = f"{DEFAULT_METHOD}.{_default_sweep.option}=1.5" if _default_sweep else f"{DEFAULT_METHOD}.seed=1"


def add_config_flags(parser: argparse.ArgumentParser, cls: type, prefix: str = "") -> None:
    """One `--flag` per field of `cls`, explained by its help text and limits; values stay text here and are
    parsed and checked by `config.parse`, the same way as for the UI and the run store."""
    group = parser.add_argument_group(f"{cls.__name__} options" + (f" (prefix --{prefix})" if prefix else ""))
    for opt in cfgmod.options(cls):
        flag = "--" + (prefix + opt.name).replace("_", "-")
        limits = opt.limits()
        help_text = opt.help + (f"; {limits}" if limits and opt.choices is None else "") + \
            (f" [default: {opt.default}]" if opt.default is not None else "")
        if opt.kind is bool:
            group.add_argument(flag, dest=prefix + opt.name, action=argparse.BooleanOptionalAction, default=None,
                               help=help_text)
        else:
            metavar = "A,B,..." if opt.kind is tuple else None if opt.choices else opt.kind.__name__.upper()
            group.add_argument(flag, dest=prefix + opt.name, default=None, metavar=metavar, help=help_text,
                               choices=[str(c) for c in opt.choices] if opt.choices else None)


def config_from_args(cls: type, ns: argparse.Namespace, prefix: str = "", owner: str = "") -> Any:
    """Build `cls` from parsed flags; flags left out keep the dataclass defaults."""
    given = {o.name: getattr(ns, prefix + o.name) for o in cfgmod.options(cls)
             if getattr(ns, prefix + o.name, None) is not None}
    return cfgmod.parse(cls, given, owner=owner)


def parse_assignments(items: list[str] | None) -> dict[str, dict[str, str]]:
    """`["METHOD.OPTION=VALUE", ...]` → `{METHOD: {OPTION: VALUE}}` (the `--set` flag)."""
    out: dict[str, dict[str, str]] = {}
    for item in items or []:
        target, eq, value = item.partition("=")
        method, dot, name = target.partition(".")
        if not eq or not dot or not method or not name:
            raise ValueError(f"--set {item!r}: write METHOD.OPTION=VALUE, e.g. {SET_EXAMPLE}")
        out.setdefault(method, {})[name.replace("-", "_")] = value
    return out
