"""The method registry: one module per method, one line here per method."""

from __future__ import annotations

from . import deepclean, finetune, gold, zero_weights
from .base import Method, MethodError, UnlearnTask

METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        deepclean.METHOD,
        zero_weights.METHOD,
        gold.METHOD,
        finetune.METHOD,
    )
}


def get_method(name: str) -> Method:
    if name not in METHODS:
        raise MethodError(f"unknown method {name!r}; choose one of: {', '.join(METHODS)}")
    return METHODS[name]


__all__ = ["METHODS", "Method", "MethodError", "UnlearnTask", "get_method"]
