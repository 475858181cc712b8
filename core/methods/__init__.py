"""The method registry: one module per method, one line here per method."""

from __future__ import annotations

from . import (bad_teacher, deepclean, finetune, fisher_forgetting, gold, l1_sparse, lfssd, neggrad_plus,
               random_label, salun, scrub, ssd, unsir, zero_weights)
from .base import Method, MethodError, UnlearnTask

METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        deepclean.METHOD,
        zero_weights.METHOD,
        gold.METHOD,
        finetune.METHOD,
        ssd.METHOD,
        lfssd.METHOD,
        unsir.METHOD,
        bad_teacher.METHOD,
        fisher_forgetting.METHOD,
        l1_sparse.METHOD,
        random_label.METHOD,
        salun.METHOD,
        scrub.METHOD,
        neggrad_plus.METHOD,
    )
}


def get_method(name: str) -> Method:
    if name not in METHODS:
        raise MethodError(f"unknown method {name!r}; choose one of: {', '.join(METHODS)}")
    return METHODS[name]


__all__ = ["METHODS", "Method", "MethodError", "UnlearnTask", "get_method"]
