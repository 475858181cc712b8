"""Jobs on a Dask distributed cluster: the same executor interface as the local one.

With DEEPCLEAN_DASK_ADDRESS=tls://host:8786 (or tcp:// for a cluster without TLS) every job is a Dask task
running `core.jobs.execute` on some worker; GPU jobs ask for the worker resource GPU=1 (start workers with `--resources GPU=1`, one per GPU).
Workers must see the same DEEPCLEAN_HOME (a shared volume): progress, results and cancellation go through
the run store exactly as with local workers. A task is never retried: if its worker dies, the run ends
failed with the reason (the scheduler's reschedule finds the run already started and fails it).

A tls:// address needs the cluster's certificates (mutual TLS, `core/cluster_tls.py`): the folder named by
DEEPCLEAN_DASK_TLS_DIR (ca.pem, cluster.pem, cluster-key.pem), or Dask's own settings
(DASK_DISTRIBUTED__COMM__TLS__CA_FILE, ..._TLS__CLIENT__CERT, ..._TLS__CLIENT__KEY).
"""

from __future__ import annotations

import os
import socket
import ssl
import threading
from dataclasses import asdict
from typing import Any

from . import cluster_tls
from .jobs import JobRequest, check, create_record, execute, wait_until_finished
from .store import Owner, RunStore

TLS_DIR_ENV = "DEEPCLEAN_DASK_TLS_DIR"
CERTS_FIX = (f"set {TLS_DIR_ENV} to a folder holding the cluster's {', '.join(cluster_tls.CLIENT_FILES)} (compose "
             "mounts its `dask-tls` volume at /tls; `python -m core cluster-certs --dir DIR` makes them, and other "
             "hosts copy them from there)")


class ClusterUnreachable(RuntimeError):
    """The Dask scheduler at DEEPCLEAN_DASK_ADDRESS did not answer or refused this client (the app says so
    and tries again later)."""


def scheme(address: str | None) -> str | None:
    return None if not address else (address.split("://", 1)[0].lower() if "://" in address else "tcp")


def cluster_security(address: str | None) -> Any:
    """The `distributed.Security` for a client of the scheduler at `address`: the certificates in
    DEEPCLEAN_DASK_TLS_DIR for a tls:// address (else Dask's TLS settings); None (Dask's defaults) for a
    tcp:// one. Raises ClusterUnreachable, naming the fix, when a tls:// address has no certificates or the
    certificate folder is set for a tcp:// address."""
    tls_dir = os.environ.get(TLS_DIR_ENV)
    kind = scheme(address)
    if kind != "tls":
        if tls_dir and kind is not None:
            raise ClusterUnreachable(f"{TLS_DIR_ENV} is set ({tls_dir}) but DEEPCLEAN_DASK_ADDRESS {address} is not a "
                                     "tls:// address: a cluster with certificates takes TLS only; use "
                                     f"tls://{address.split('://', 1)[-1]}")
        return None
    if tls_dir:
        gone = cluster_tls.missing(tls_dir)
        if gone:
            raise ClusterUnreachable(f"DEEPCLEAN_DASK_ADDRESS {address} uses TLS but the certificate folder {tls_dir} "
                                     f"({TLS_DIR_ENV}) lacks {', '.join(gone)}: {CERTS_FIX}")
        return cluster_tls.security(tls_dir)
    from distributed.security import Security

    sec = Security(require_encryption=True)  # Dask's own settings (DASK_DISTRIBUTED__COMM__TLS__*)
    if not (sec.tls_ca_file and sec.tls_client_cert):
        raise ClusterUnreachable(f"DEEPCLEAN_DASK_ADDRESS {address} uses TLS but this app has no certificates for "
                                 f"it: {CERTS_FIX}")
    return sec


def speaks_tls(address: str, timeout: float = 2.0) -> bool:
    """Whether host:port of `address` answers a TLS handshake (a hint for a tcp:// address that failed)."""
    host, _, port = address.split("://", 1)[-1].rpartition(":")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout) as raw, \
                ctx.wrap_socket(raw, do_handshake_on_connect=False) as tls:
            tls.do_handshake()
        return True
    except ssl.SSLError as e:  # an alert (e.g. "certificate required") comes from a TLS server
        return "ALERT" in str(e).upper()
    except (OSError, ValueError):
        return False


def unreachable(address: str | None, timeout: str, e: BaseException) -> ClusterUnreachable:
    """The message for a scheduler that could not be reached or refused us: what failed and what to change."""
    kind = scheme(address)
    reason = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
    if kind == "tls":
        return ClusterUnreachable(
            f"the Dask scheduler at {address} refused this app's TLS connection or did not answer within {timeout} "
            f"({reason}). "
            "If the scheduler is running, its certificates and this app's must come from the same CA: "
            f"{CERTS_FIX}. Otherwise check that it runs and DEEPCLEAN_DASK_ADDRESS is right; this page tries again "
            "on reload")
    if kind == "tcp" and address and speaks_tls(address):
        return ClusterUnreachable(
            f"the Dask scheduler at {address} requires TLS with the cluster's certificates and refused this plain "
            f"tcp:// connection ({reason}): set DEEPCLEAN_DASK_ADDRESS=tls://{address.split('://', 1)[-1]} and "
            f"{CERTS_FIX}")
    return ClusterUnreachable(
        f"the Dask scheduler at {address} did not answer within {timeout} ({reason}); "
        "jobs cannot start until it does. Check that the scheduler is running and "
        "DEEPCLEAN_DASK_ADDRESS is right (tls:// with certificates when the cluster uses TLS, as compose's "
        "does); this page tries again on reload")


def cuda_names() -> list[str]:
    """The CUDA device names this process sees (run on a worker through the scheduler)."""
    import torch

    return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []


def describe_devices(workers: dict[str, dict], names: dict[str, list[str]]) -> tuple[bool, str]:
    """(any GPU worker?, a label) from the scheduler's worker table and each GPU worker's CUDA names."""
    if not workers:
        return False, "no Dask worker connected yet"
    gpus = [a for a, w in workers.items() if (w.get("resources") or {}).get("GPU", 0) > 0]
    if not gpus:
        return False, f"CPU ({len(workers)} Dask worker{'s' * (len(workers) != 1)}, none with a GPU)"
    seen = [n for a in gpus for n in (names.get(a) or ["GPU (name unknown)"])[:1]]
    kinds = sorted(set(seen))
    return True, f"{len(gpus)} GPU worker{'s' * (len(gpus) != 1)}: " + ", ".join(
        f"{k} ×{seen.count(k)}" if seen.count(k) > 1 else k for k in kinds)


def execute_on_worker(home: str, run_id: str, request: dict[str, Any]) -> str:
    """`core.jobs.execute` on a worker, after checking the worker sees the shared DEEPCLEAN_HOME: a worker
    without it fails the job with that reason (instead of "no run X" or a fresh, empty store)."""
    from pathlib import Path

    from .store_db import MARKER_FILE

    if not (Path(home) / MARKER_FILE).is_file():
        raise RuntimeError(f"Dask worker on {socket.gethostname()} does not see the shared DEEPCLEAN_HOME {home} "
                           f"(no {MARKER_FILE} there): mount the same volume or path at the same place on every "
                           "worker and the app")
    return execute(home, run_id, request)


# The owner a queued Dask job records until a worker starts it: the cluster holds it, not the app that
# submitted it, so the app's restart does not interrupt it (its host is no host's name: never "gone").
CLUSTER_OWNER = Owner("dask-cluster", 0)
TASK_PREFIX = "deepclean-"


def task_key(run_id: str) -> str:
    return f"{TASK_PREFIX}{run_id}"


def scheduler_tasks(dask_scheduler: Any) -> dict[str, str]:
    """Run on the scheduler: the state of every DeepClean task it holds, by key."""
    return {str(k): ts.state for k, ts in dask_scheduler.tasks.items() if str(k).startswith(TASK_PREFIX)}


def resources_for(request: JobRequest) -> dict[str, int] | None:
    """Dask worker resources a job needs: one GPU for a CUDA job, none for a CPU job."""
    return {"GPU": 1} if request.device.startswith("cuda") else None


class DaskExecutor:
    """Submits jobs to the Dask scheduler at `address` (or to a given `client`)."""

    def __init__(self, address: str | None = None, store: RunStore | None = None, client: Any = None,
                 poll_s: float = 0.2) -> None:
        from distributed import Client

        if client is None:
            timeout = os.environ.get("DEEPCLEAN_DASK_TIMEOUT", "10s")
            security = cluster_security(address)
            try:
                client = Client(address, timeout=timeout, security=security)
            except (OSError, TimeoutError) as e:  # ssl.SSLError and Dask's CommClosedError are OSErrors
                raise unreachable(address, timeout, e) from e
        self.client = client
        self.store = store or RunStore()
        self.poll_s = poll_s
        self._lock = threading.Lock()
        self._futures: dict[str, Any] = {}
        self._names: dict[str, list[str]] = {}
        self._cancelled: set[str] = set()

    def submit(self, request: JobRequest) -> str:
        from distributed import fire_and_forget

        check(request)
        run_id = create_record(self.store, request, owner=CLUSTER_OWNER)
        fut = self.client.submit(execute_on_worker, str(self.store.home), run_id, asdict(request), key=task_key(run_id),
                                 resources=resources_for(request), pure=False, retries=0)
        waiting = self._why_waiting(request)
        if waiting:
            self.store.update(run_id, message=waiting)
        fire_and_forget(fut)  # the scheduler keeps the task if this app restarts (its client disconnects)
        self._follow(run_id, fut)
        return run_id

    def _follow(self, run_id: str, fut: Any) -> None:
        """Record the task's end on its run when it ends (see `_done`)."""
        with self._lock:
            self._futures[run_id] = fut
        fut.add_done_callback(lambda f, rid=run_id: self._done(rid, f))

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
            if run_id not in self._cancelled:
                return  # this client closed (app restart): the scheduler still owns the task
            self.store.fail(run_id, "cancelled before it started", status="cancelled")
        else:
            try:
                err = fut.exception(timeout=5)
            except Exception as e:  # noqa: BLE001 - whatever the cluster reports, the run must not hang
                err = e
            self.store.fail(run_id, f"the Dask task ended without finishing the job: {type(err).__name__}: {err}")

    def _why_waiting(self, request: JobRequest) -> str | None:
        """What a queued job waits for when no worker can take it (shown as its message until it starts)."""
        try:
            workers = self.client.scheduler_info(n_workers=-1).get("workers", {})
        except Exception:  # noqa: BLE001 - only a hint
            return None
        if not workers:
            return "waiting: no Dask worker is connected to the scheduler (start one with `dask worker ...`)"
        need = resources_for(request)
        if need and not any((w.get("resources") or {}).get("GPU", 0) > 0 for w in workers.values()):
            return "waiting: no connected Dask worker has a GPU (start one with --resources GPU=1)"
        return None

    def devices(self) -> tuple[bool, str]:
        """The workers' devices, not this process's: (any worker with a GPU resource?, a label naming the
        workers' CUDA devices). The app container needs no GPU of its own."""
        workers = self.client.scheduler_info(n_workers=-1).get("workers", {})
        gpus = [a for a, w in workers.items() if (w.get("resources") or {}).get("GPU", 0) > 0]
        missing = [a for a in gpus if a not in self._names]
        if missing:
            try:
                got = self.client.run(cuda_names, workers=missing, on_error="return")
            except Exception:  # noqa: BLE001 - a worker leaving mid-question costs only its name
                got = {}
            self._names.update({a: v for a, v in got.items() if isinstance(v, list)})
        return describe_devices(workers, self._names)

    def cancel(self, run_id: str) -> str:
        status = self.store.request_cancel(run_id)
        with self._lock:
            fut = self._futures.get(run_id)
        if fut is not None and status == "cancelled":
            self._cancelled.add(run_id)
            fut.cancel()  # not started yet: take it off the cluster's queue too
        return status

    def recover(self) -> list[str]:
        """At server start, reconcile the store with the scheduler, which holds queued and running jobs
        across an app restart: a live run whose task the scheduler still holds is followed again (its end is
        recorded as if this server had submitted it); a queued run the cluster held but the scheduler no
        longer knows (it restarted before a worker started it) ends interrupted; the rest is the store's own
        recovery (a live run whose owner on this host is gone ends interrupted; one on another host's worker
        is left to it). Returns the ids interrupted."""
        from distributed import Future

        try:
            tasks = self.client.run_on_scheduler(scheduler_tasks)
        except Exception:  # noqa: BLE001 - an unreachable scheduler: reconcile on a later start
            return []
        interrupted, followed = [], 0
        for rec in self.store.list(status="queued", limit=100_000) + self.store.list(status="running", limit=100_000):
            key = task_key(rec["id"])
            if tasks.get(key) not in (None, "forgotten", "released", "erred"):
                self._follow(rec["id"], Future(key, client=self.client))
                followed += 1
            elif rec["status"] == "queued" and Owner.of_record(rec) == CLUSTER_OWNER and self.store.interrupt(
                    rec["id"], "the Dask scheduler no longer holds this job (it restarted before a worker started "
                               "it); launch it again"):
                interrupted.append(rec["id"])
        inform = getattr(self.client, "_inform_scheduler_of_futures", None)
        if followed and inform is not None:  # so the scheduler tells this client when the followed tasks end
            inform()
        return interrupted + self.store.mark_interrupted()

    def _pending(self, run_id: str) -> bool:
        with self._lock:
            return run_id in self._futures

    def wait(self, run_id: str, timeout: float | None = None) -> str:
        """Block until a job ends (for the CLI and tests); returns its status."""
        return wait_until_finished(self.store, self._pending, run_id, timeout, self.poll_s)

    def shutdown(self, kill: bool = False) -> None:
        self.client.close()
