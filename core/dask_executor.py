"""Jobs on a Dask distributed cluster: the same executor interface as the local one.

With DEEPCLEAN_DASK_ADDRESS=tcp://host:8786 every job is a Dask task running `core.jobs.execute` on some
worker; GPU jobs ask for the worker resource GPU=1 (start workers with `--resources GPU=1`, one per GPU).
Workers must see the same DEEPCLEAN_HOME (a shared volume): progress, results and cancellation go through
the run store exactly as with local workers. A task is never retried: if its worker dies, the run ends
failed with the reason (the scheduler's reschedule finds the run already started and fails it).
"""

from __future__ import annotations

import threading
from dataclasses import asdict
from typing import Any

from .jobs import JobRequest, check, create_record, execute, wait_until_finished
from .store import RunStore


def resources_for(request: JobRequest) -> dict[str, int] | None:
    """Dask worker resources a job needs: one GPU for a CUDA job, none for a CPU job."""
    return {"GPU": 1} if request.device.startswith("cuda") else None


class DaskExecutor:
    """Submits jobs to the Dask scheduler at `address` (or to a given `client`)."""

    def __init__(self, address: str | None = None, store: RunStore | None = None, client: Any = None,
                 poll_s: float = 0.2) -> None:
        from distributed import Client

        self.client = client if client is not None else Client(address, timeout="20s")
        self.store = store or RunStore()
        self.poll_s = poll_s
        self._lock = threading.Lock()
        self._futures: dict[str, Any] = {}

    def submit(self, request: JobRequest) -> str:
        check(request)
        run_id = create_record(self.store, request)
        fut = self.client.submit(execute, str(self.store.home), run_id, asdict(request), key=f"deepclean-{run_id}",
                                 resources=resources_for(request), pure=False, retries=0)
        with self._lock:
            self._futures[run_id] = fut
        fut.add_done_callback(lambda f, rid=run_id: self._done(rid, f))
        return run_id

    def _done(self, run_id: str, fut: Any) -> None:
        """A task that errored or was lost (KilledWorker) leaves its run failed, never running."""
        with self._lock:
            self._futures.pop(run_id, None)
        try:
            rec = self.store.get(run_id)
        except Exception:
            return
        if rec["status"] not in ("queued", "running"):
            return
        if fut.status == "cancelled":
            self.store.fail(run_id, "cancelled before it started", status="cancelled")
        else:
            try:
                err = fut.exception(timeout=5)
            except Exception as e:  # noqa: BLE001 - whatever the cluster reports, the run must not hang
                err = e
            self.store.fail(run_id, f"the Dask task ended without finishing the job: {type(err).__name__}: {err}")

    def cancel(self, run_id: str) -> str:
        status = self.store.request_cancel(run_id)
        with self._lock:
            fut = self._futures.get(run_id)
        if fut is not None and status == "cancelled":
            fut.cancel()  # not started yet: take it off the cluster's queue too
        return status

    def recover(self) -> list[str]:
        """Nothing to do at server start: the cluster, not this server, holds queued and running jobs."""
        return []

    def _pending(self, run_id: str) -> bool:
        with self._lock:
            return run_id in self._futures

    def wait(self, run_id: str, timeout: float | None = None) -> str:
        """Block until a job ends (for the CLI and tests); returns its status."""
        return wait_until_finished(self.store, self._pending, run_id, timeout, self.poll_s)

    def shutdown(self, kill: bool = False) -> None:
        self.client.close()
