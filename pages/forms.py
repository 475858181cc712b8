"""Forms built from a config dataclass's declared options: one widget per option, checked by `config.parse`."""

from __future__ import annotations

import math
from typing import Any

import streamlit as st

from core import config as cfgmod


def _number_bounds(opt: cfgmod.Option) -> dict[str, Any]:
    """min_value/max_value for a bounded number input (open bounds are left to `parse`, which names them)."""
    cast = int if opt.kind is int else float
    out = {}
    if opt.low is not None:
        out["min_value"] = cast(opt.low + 1 if opt.kind is int and opt.low_open else opt.low)
    if opt.high is not None:
        out["max_value"] = cast(opt.high - 1 if opt.kind is int and opt.high_open else opt.high)
    return out


def option_widget(opt: cfgmod.Option, key: str) -> Any:
    """The widget for one option; returns its value (text for lists, None for an empty optional number)."""
    help_text = opt.help + (f" ({opt.limits()})" if opt.limits() and opt.choices is None else "")
    if opt.kind is bool:
        return st.checkbox(opt.label, value=bool(opt.default), help=help_text, key=key)
    if opt.choices is not None:
        choices = list(opt.choices)
        return st.selectbox(opt.label, choices, index=choices.index(opt.default) if opt.default in choices else 0,
                            help=help_text, key=key)
    if opt.kind in (int, float):
        value = opt.default
        if opt.kind is float and value is not None:
            value = float(value)
        # a step of one unit in the default's leading digit (0.0001 for 5e-4): the arrows move it sensibly
        step = 1 if opt.kind is int else float(10 ** math.floor(math.log10(abs(value))) if value else 0.01)
        return st.number_input(opt.label, value=value, step=step, format=None if opt.kind is int else "%g",
                               placeholder="automatic" if opt.optional else None, help=help_text, key=key,
                               **_number_bounds(opt))
    if opt.kind is tuple:
        text = "" if opt.default is None else ",".join(str(v) for v in opt.default)
        return st.text_input(opt.label, value=text, placeholder="automatic" if opt.optional else "",
                             help=help_text + " (comma-separated)", key=key)
    return st.text_input(opt.label, value=opt.default or "", help=help_text, key=key)


def config_form(cls: type, prefix: str, skip: tuple[str, ...] = (), fixed: dict[str, Any] | None = None) -> Any:
    """Widgets for a config dataclass's options (labels, help and limits from its declarations), returning
    the config. `fixed` gives values set elsewhere on the page (the swept option's slider); a value out of its
    limits raises ConfigError with the reason."""
    values = dict(fixed or {})
    for opt in cfgmod.options(cls):
        if opt.name not in skip and opt.name not in values:
            values[opt.name] = option_widget(opt, f"{prefix}.{opt.name}")
    return cfgmod.parse(cls, values, owner=prefix)
