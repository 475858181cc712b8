"""Which executor this process uses: a Dask cluster when DEEPCLEAN_DASK_ADDRESS is set, else local workers."""

from __future__ import annotations

import os

from .jobs import Executor, LocalExecutor
from .store import RunStore


def default_executor(store: RunStore | None = None) -> Executor:
    """The executor for this process: the Dask cluster at DEEPCLEAN_DASK_ADDRESS when set, otherwise local
    worker processes (DEEPCLEAN_WORKERS of them, default 1)."""
    address = os.environ.get("DEEPCLEAN_DASK_ADDRESS")
    if address:
        from .dask_executor import DaskExecutor

        return DaskExecutor(address, store)
    return LocalExecutor(store, workers=int(os.environ.get("DEEPCLEAN_WORKERS", "1")))
