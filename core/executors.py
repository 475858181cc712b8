"""Which executor this process uses: a Dask cluster when DEEPCLEAN_DASK_ADDRESS is set, else local workers.

The server's executor is process state, created once per DEEPCLEAN_HOME when the server starts (or on first
use), never in `st.cache_resource`: any connected client can clear that cache, which would re-create the
executor, lose its queue and re-run start-up recovery on live jobs.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from . import paths
from .jobs import Executor, LocalExecutor
from .store import RunStore

_lock = threading.Lock()
_servers: dict[Path, Executor] = {}


def default_executor(store: RunStore | None = None) -> Executor:
    """The executor for this process: the Dask cluster at DEEPCLEAN_DASK_ADDRESS when set, otherwise local
    worker processes (DEEPCLEAN_WORKERS of them, default 1)."""
    address = os.environ.get("DEEPCLEAN_DASK_ADDRESS")
    if address:
        from .dask_executor import DaskExecutor

        return DaskExecutor(address, store)
    return LocalExecutor(store, workers=int(os.environ.get("DEEPCLEAN_WORKERS", "1")))


def server_local_executor(store: RunStore) -> Executor:
    """The server's local executor keeps a spare worker warm (DEEPCLEAN_WARM_WORKER=0 turns it off)."""
    return LocalExecutor(store, workers=int(os.environ.get("DEEPCLEAN_WORKERS", "1")),
                         warm=os.environ.get("DEEPCLEAN_WARM_WORKER", "1") != "0")


def offered_devices(executor: Executor | None = None) -> tuple[bool, str]:
    """(can jobs run on a GPU?, a label for it): the Dask workers' devices when `executor` is a Dask one
    (asked from the scheduler), else this machine's."""
    devices = getattr(executor, "devices", None)
    if devices is not None:
        return devices()
    import torch

    from .runtime import device_label

    return torch.cuda.is_available(), device_label()


def server_executor() -> Executor:
    """This server's executor for DEEPCLEAN_HOME, created once per process and home; creating it recovers
    the runs a previous server left (see `Executor.recover`). Raises StoreError for an unusable home (and
    tries again on the next call)."""
    home = paths.home()
    with _lock:
        ex = _servers.get(home)
        if ex is None:
            store = RunStore(home)
            ex = default_executor(store) if os.environ.get("DEEPCLEAN_DASK_ADDRESS") else server_local_executor(store)
            ex.recover()
            _servers[home] = ex
        return ex
