"""The method registry: one module per method, one line here per method.

A method's traits (what it needs, which forget sets it serves, the option it is tuned by, the importance it
shares, whether it is the retraining yardstick) live on its `Method` entry; the command line, the sweep,
the pages and the reports read them, so no list of method names exists outside this package.

Methods of your own: a module that defines `METHOD = Method(...)`, named in DEEPCLEAN_METHOD_MODULES
(comma-separated module paths importable from the server's and the workers' Python path), is registered
beside these at import time — in the dashboard, the command line and every job worker alike.
"""

from __future__ import annotations

import importlib
import os

from . import (bad_teacher, deepclean, finetune, fisher_forgetting, gold, l1_sparse, lfssd, neggrad_plus,
               random_label, salun, scrub, ssd, ssd_retain, unsir, zero_weights)
from .base import Method, MethodError, Sweep, UnlearnTask

METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        deepclean.METHOD,
        zero_weights.METHOD,
        gold.METHOD,
        finetune.METHOD,
        ssd.METHOD,
        ssd_retain.METHOD,
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

# The product's own method: what the command line, the dashboard and the demo run unless told otherwise.
DEFAULT_METHOD = deepclean.METHOD.name
EXTRA_MODULES_ENV = "DEEPCLEAN_METHOD_MODULES"


def register(method: Method) -> Method:
    """Add a method to the registry (refusing a second one under a taken name); returns it."""
    if method.name in METHODS and METHODS[method.name] is not method:
        raise MethodError(f"a method named {method.name!r} is already registered")
    METHODS[method.name] = method
    return method


def load_extra_methods(modules: str | None = None) -> list[str]:
    """Import the method modules named in DEEPCLEAN_METHOD_MODULES (or `modules`) and register each one's
    METHOD; returns the names registered."""
    names = []
    for path in filter(None, (m.strip() for m in (modules if modules is not None else os.environ.get(EXTRA_MODULES_ENV, "")).split(","))):
        try:
            module = importlib.import_module(path)
        except ImportError as e:
            raise MethodError(f"{EXTRA_MODULES_ENV} names {path!r}, which cannot be imported ({e}); "
                              f"put it on PYTHONPATH or remove it") from e
        if not isinstance(getattr(module, "METHOD", None), Method):
            raise MethodError(f"{path} defines no METHOD = Method(...); see core/methods/base.py")
        names.append(register(module.METHOD).name)
    return names


def get_method(name: str) -> Method:
    if name not in METHODS:
        raise MethodError(f"unknown method {name!r}; choose one of: {', '.join(METHODS)}")
    return METHODS[name]


def reference_method() -> Method:
    """The yardstick every result is judged against: retraining from scratch without Df (gold)."""
    return next(m for m in METHODS.values() if m.reference)


def swept_methods() -> dict[str, Method]:
    """The methods that are tuned by one option (they can be swept, and have a slider)."""
    return {n: m for n, m in METHODS.items() if m.sweep is not None}


load_extra_methods()

__all__ = ["DEFAULT_METHOD", "METHODS", "Method", "MethodError", "Sweep", "UnlearnTask", "get_method",
           "load_extra_methods", "reference_method", "register", "swept_methods"]
