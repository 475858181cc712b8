"""Background jobs: an executor interface and its local process-pool implementation.

A job is an unlearning run (or a comparison of several methods) described by a plain `JobRequest`. The
executor records it in the run store as `queued` and returns its run id at once; a worker *process* runs it
(never the caller's thread), writing phase and progress to the store, and stops at its next progress
report once `cancel` is requested through the store. State lives in the store, so any process (another
browser session, a restarted server, the CLI) sees the same jobs.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

from .methods import DEFAULT_METHOD
from .store import Owner, RunStore, StoreError

log = logging.getLogger(__name__)
JOB_KINDS = ("unlearn", "compare")
ROOT = Path(__file__).resolve().parents[1]  # the folder holding `core`, where worker processes start
SPARE_RESTART_S = 5.0  # a spare worker that died is started again at most this often


@dataclass(frozen=True)
class JobRequest:
    """What to run: a method (or, for `compare`, several) on a checkpoint and forget set."""

    checkpoint: str
    forget: dict[str, Any]
    method: str = DEFAULT_METHOD
    config: dict[str, Any] = field(default_factory=dict)
    kind: str = "unlearn"
    methods: tuple[str, ...] = ()
    card: dict[str, Any] | None = None
    device: str = "auto"
    gold: str = "train"  # the gold model: train, cached or none (core/gold.py)

    def __post_init__(self) -> None:
        from .gold import GOLD_MODES

        if self.kind not in JOB_KINDS:
            raise ValueError(f"unknown job kind {self.kind!r}; one of {JOB_KINDS}")
        if self.gold not in GOLD_MODES:
            raise ValueError(f"gold must be one of {', '.join(GOLD_MODES)}; got {self.gold!r}")

    @classmethod
    def compare(cls, checkpoint: str, forget: dict[str, Any], methods: Sequence[str],
                configs: dict[str, dict[str, Any]] | None = None, *, card: dict[str, Any] | None = None,
                device: str = "auto", gold: str = "train") -> "JobRequest":
        """A comparison of several methods (each with its options in `configs`, defaults otherwise)."""
        return cls(checkpoint=str(checkpoint), forget=forget, kind="compare", methods=tuple(methods),
                   method=",".join(methods), config=dict(configs or {}), card=card, device=device, gold=gold)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "JobRequest":
        """The request as sent to a worker (JSON), back as a request."""
        return cls(**{**d, "methods": tuple(d.get("methods", ()))})

    def configs(self) -> dict[str, Any]:
        """Each method's config, parsed and checked (one for an unlearning job, one per method for a comparison)."""
        from . import config as cfgmod
        from .methods import get_method

        if self.kind == "unlearn":
            return {self.method: cfgmod.parse(get_method(self.method).config, self.config, owner=self.method)}
        return {m: cfgmod.parse(get_method(m).config, self.config.get(m, {}), owner=m) for m in self.methods}


class Executor(Protocol):
    """Runs jobs somewhere other than the caller's thread; the run store carries their state."""

    store: RunStore

    def submit(self, request: JobRequest) -> str:
        """Record the job as queued and start it when a worker is free; returns the run id."""

    def cancel(self, run_id: str) -> str:
        """Ask the job to stop; returns its status after the request."""

    def recover(self) -> list[str]:
        """At server start: mark runs a previous server left behind and nobody will finish as interrupted."""

    def wait(self, run_id: str, timeout: float | None = None) -> str:
        """Block until the job ends; returns its status."""

    def shutdown(self, kill: bool = False) -> None:
        """Stop taking jobs (with `kill`, end running ones where the executor can)."""


def check(request: JobRequest) -> None:
    """Refuse, before anything is queued, a request that cannot run (unknown method, wrong forget kind,
    options out of their limits)."""
    from .forget import ForgetSpec
    from .methods import get_method

    if request.kind == "compare" and not request.methods:
        raise ValueError("a comparison job needs at least one method")
    spec = ForgetSpec.from_dict(request.forget)
    for name in (request.methods if request.kind == "compare" else (request.method,)):
        get_method(name).check(spec.kind)
    request.configs()


def create_record(store: RunStore, request: JobRequest, owner: Owner | None = None) -> str:
    """The queued run record of a job, owned by `owner` (default: this process) until a worker starts it."""
    return store.create(request.kind, method=request.method, config=request.config, forget=request.forget,
                        parent_path=request.checkpoint, owner=owner)


def execute(home: str, run_id: str, request: dict[str, Any]) -> str:
    """Run one job in a worker process; returns its final status. Errors end up on the run record."""
    from .compare import run_compare
    from .forget import ForgetSpec
    from .unlearn import run_unlearn

    import torch

    # Leave a core to the server so pages stay responsive while a job runs (DEEPCLEAN_WORKER_THREADS overrides).
    torch.set_num_threads(int(os.environ.get("DEEPCLEAN_WORKER_THREADS", max(1, (os.cpu_count() or 2) - 1))))
    store = RunStore(home)
    req = JobRequest.from_dict(request)
    status = store.get(run_id)["status"]
    if status == "running":  # started before by a worker that died; a cluster rescheduled it: do not run twice
        store.fail(run_id, "the worker running this job died (killed or out of memory); it was not restarted")
        shutil.rmtree(store.artifacts / run_id, ignore_errors=True)
        return "failed"
    if status != "queued":  # cancelled while it waited
        return status
    try:
        spec = ForgetSpec.from_dict(req.forget)
        configs = req.configs()
        if req.kind == "unlearn":
            run_unlearn(req.checkpoint, spec, req.method, configs[req.method], card=req.card, device=req.device,
                        store=store, run_id=run_id, gold_mode=req.gold)
        else:
            with store.run(run_id=run_id) as run:
                result = run_compare(req.checkpoint, spec, list(req.methods), configs, card=req.card,
                                     device=req.device, store=store, progress=run.progress(), gold_mode=req.gold)
                run.finish(metrics=result)
    except BaseException as e:  # the lifecycle has recorded it on the run; one that never started is failed here
        store.fail(run_id, f"{type(e).__name__}: {e}")
    return store.get(run_id)["status"]


@dataclass
class Worker:
    """A worker process a LocalExecutor watches: one it started (`proc`), or one a previous server started
    that outlived it (adopted at start-up; only its owner identity is known)."""

    owner: Owner
    proc: subprocess.Popen | None = None

    def exit_reason(self) -> str | None:
        """None while the process runs; otherwise how it ended."""
        if self.proc is not None:
            rc = self.proc.poll()
            if rc is None:
                return None
            return f"was killed by signal {-rc}" if rc < 0 else f"exited with status {rc}"
        return None if self.owner.alive() is not False else "ended (it outlived the previous server)"


class LocalExecutor:
    """A pool of worker processes on this machine: at most `workers` jobs run at once, each in its own
    `python -m core.jobs` process, in the order they were submitted. A dispatcher thread starts them and
    watches them; a worker that dies (killed, out of memory) leaves every run it owned failed with the reason.
    One bad record or a failed start never stops the queue, and a dispatcher that died is started again."""

    def __init__(self, store: RunStore | None = None, workers: int = 1, poll_s: float = 0.2,
                 warm: bool = False) -> None:
        self.store = store or RunStore()
        self.workers = max(1, workers)
        self.poll_s = poll_s
        self.warm = warm  # keep one spare worker warmed up (torch and the engine imported) for the next job
        self._spare: subprocess.Popen | None = None
        self._spare_started = 0.0
        self._cond = threading.Condition()
        self._queue: deque[tuple[str, JobRequest]] = deque()
        self._running: dict[str, Worker] = {}  # the workers this executor started (they fill its slots)
        self._watched: dict[str, Worker] = {}  # runs whose worker outlived a previous server, or a CLI run's
        self._thread: threading.Thread | None = None
        self._stopped = False
        if warm:  # the dispatcher starts the spare now, so the first job finds it warm
            with self._cond:
                self._ensure_dispatcher()

    def submit(self, request: JobRequest) -> str:
        check(request)
        with self._cond:  # record and enqueue together, so creation order is queue order
            run_id = create_record(self.store, request)
            self._queue.append((run_id, request))
            self._ensure_dispatcher()
            self._cond.notify_all()
        return run_id

    def _ensure_dispatcher(self) -> None:
        """Start the dispatcher thread if there is none or it died (call with the lock held)."""
        if not self._stopped and (self._thread is None or not self._thread.is_alive()):
            self._thread = threading.Thread(target=self._dispatch, name="deepclean-jobs", daemon=True)
            self._thread.start()

    def _env(self) -> dict[str, str]:
        return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}

    def _start(self, run_id: str, request: JobRequest) -> subprocess.Popen:
        """The job's worker: the warm spare when there is a live one (it then logs to the run's log), else a
        new process."""
        spare, self._spare = self._spare, None
        if spare is not None and spare.poll() is None:
            try:
                spare.stdin.write((json.dumps({"run_id": run_id, "request": asdict(request)}) + "\n").encode())
                spare.stdin.close()
                return spare
            except OSError:  # it died just now: a cold start instead
                spare.kill()
        logs = self.store.home / "logs"
        logs.mkdir(exist_ok=True)
        with open(logs / f"{run_id}.log", "ab") as log:
            proc = subprocess.Popen([sys.executable, "-m", "core.jobs", str(self.store.home), run_id],
                                    stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                                    env=self._env())
        proc.stdin.write(json.dumps(asdict(request)).encode())
        proc.stdin.close()
        return proc

    def _keep_spare(self) -> None:
        """With `warm`, start a spare worker when there is none (or it died), at most every SPARE_RESTART_S."""
        if not self.warm or self._stopped or (self._spare is not None and self._spare.poll() is None):
            return
        if time.monotonic() - self._spare_started < SPARE_RESTART_S:
            return
        self._spare_started = time.monotonic()
        logs = self.store.home / "logs"
        logs.mkdir(exist_ok=True)
        try:
            with open(logs / "spare-worker.log", "ab") as out:
                self._spare = subprocess.Popen([sys.executable, "-m", "core.jobs", "--spare", str(self.store.home)],
                                               stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                                               env=self._env())
        except OSError:
            log.exception("could not start a spare worker; jobs start cold")
            self._spare = None

    def _launch(self, run_id: str, request: JobRequest) -> None:
        """Start the next queued job in a worker, unless it was cancelled (or deleted) while it waited."""
        try:
            if self.store.get(run_id)["status"] != "queued":
                return
        except StoreError:  # deleted while it waited
            return
        try:
            proc = self._start(run_id, request)
        except Exception as e:  # noqa: BLE001 - whatever stops this start fails this job, not the queue
            self.store.fail(run_id, f"could not start a worker process: {type(e).__name__}: {e}")
            return
        self._running[run_id] = Worker(Owner.of(proc.pid), proc)

    def _reap(self) -> None:
        """Fail every live run a dead worker owned: its job and any run it started (a gold retraining)."""
        for workers in (self._running, self._watched):
            for run_id, worker in list(workers.items()):
                how = worker.exit_reason()
                if how is None:
                    continue
                del workers[run_id]
                self.store.fail_owned_by(worker.owner, f"the worker process {how} (killed or out of memory?) before "
                                                       f"the job finished; see {self.store.home / 'logs' / (run_id + '.log')}")

    def _dispatch(self) -> None:
        while True:
            with self._cond:
                try:
                    self._reap()
                    self._keep_spare()
                    while self._queue and len(self._running) < self.workers:
                        run_id, request = self._queue.popleft()
                        try:
                            self._launch(run_id, request)
                        except Exception:  # noqa: BLE001 - one bad record never stops the queue
                            log.exception("could not dispatch run %s; going on with the queue", run_id)
                        self._keep_spare()  # the next job's worker warms up while this one runs
                except Exception:  # noqa: BLE001 - the store may be busy or briefly unusable: try again later
                    log.exception("job dispatcher: error while watching workers; retrying")
                    self._cond.wait(max(1.0, self.poll_s))
                    continue
                if self._stopped and not self._running and not self._watched:
                    return
                self._cond.wait(self.poll_s)

    def cancel(self, run_id: str) -> str:
        with self._cond:
            self._ensure_dispatcher()
        return self.store.request_cancel(run_id)

    def recover(self) -> list[str]:
        """At server start: live runs whose owner is gone become interrupted, and runs whose worker outlived
        the previous server are watched from now on (and fail when that worker dies)."""
        interrupted = self.store.mark_interrupted()
        me = Owner.of()
        with self._cond:
            for rec in self.store.list(status="running"):
                owner = Owner.of_record(rec)
                if owner is not None and owner != me and owner.alive() and rec["id"] not in self._running:
                    self._watched[rec["id"]] = Worker(owner)  # watched, not counted against this executor's slots
            if self._watched:
                self._ensure_dispatcher()
        return interrupted

    def worker_pid(self, run_id: str) -> int | None:
        with self._cond:
            worker = self._running.get(run_id) or self._watched.get(run_id)
        return worker.owner.pid if worker else None

    def _pending(self, run_id: str) -> bool:
        with self._cond:
            self._ensure_dispatcher()
            return run_id in self._running or run_id in self._watched or any(r == run_id for r, _ in self._queue)

    def wait(self, run_id: str, timeout: float | None = None) -> str:
        """Block until a job ends (for the CLI and tests); returns its status."""
        return wait_until_finished(self.store, self._pending, run_id, timeout, self.poll_s)

    def shutdown(self, kill: bool = False) -> None:
        """Stop taking jobs; with `kill`, end the running ones too. The spare worker ends either way."""
        with self._cond:
            self._stopped = True
            self._queue.clear()
            if self._spare is not None:
                self._spare.kill()
                self._spare.wait()
                self._spare = None
            if kill:
                for worker in self._running.values():
                    if worker.proc is not None:
                        worker.proc.kill()
            self._cond.notify_all()


def wait_until_finished(store: RunStore, pending: Callable[[str], bool], run_id: str, timeout: float | None,
                        poll_s: float) -> str:
    """Poll the store until the run has ended and the executor holds it no more; returns its status."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        status = store.get(run_id)["status"]
        if status not in ("queued", "running") and not pending(run_id):
            return status
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"run {run_id} still {status} after {timeout}s")
        time.sleep(poll_s)


def warm_up() -> None:
    """What a spare worker does before any job: import torch and the engine and run one small step, so a job
    handed to it starts at its first phase (the imports alone take seconds on a small machine)."""
    import torch

    from . import compare, unlearn  # noqa: F401 - imported for their import cost

    x = torch.ones(4, 4, requires_grad=True)
    (x @ x).sum().backward()


def serve_one(home: str) -> int:
    """A spare worker: warm up, then wait for one job on stdin (`{"run_id", "request"}` as a JSON line), run it
    with its output in the run's log, and exit. End of input (the server went away) ends it unused."""
    warm_up()
    line = sys.stdin.readline()
    if not line.strip():
        return 0
    job = json.loads(line)
    logs = Path(home) / "logs"
    logs.mkdir(exist_ok=True)
    with open(logs / f"{job['run_id']}.log", "ab") as out:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(out.fileno(), 1)
        os.dup2(out.fileno(), 2)
    status = execute(home, job["run_id"], job["request"])
    return 0 if status in ("done", "cancelled") else 1


def main(argv: list[str] | None = None) -> int:
    """Worker entry point: `python -m core.jobs HOME RUN_ID`, the request as JSON on stdin; or
    `python -m core.jobs --spare HOME`, a warm worker that waits for its job (see `serve_one`)."""
    args = argv or sys.argv[1:]
    if args[0] == "--spare":
        return serve_one(args[1])
    home, run_id = args[:2]
    status = execute(home, run_id, json.loads(sys.stdin.read()))
    return 0 if status in ("done", "cancelled") else 1


if __name__ == "__main__":
    sys.exit(main())
