"""The run store: one SQLite (WAL) record per run plus an artifact folder, under DEEPCLEAN_HOME.

A run moves queued → running → done, or ends failed / cancelled / interrupted. Those four end states are
final: no later write changes them (a worker that finishes after its run was marked interrupted leaves it
interrupted). Every run records its owner, the process answerable for it (host, pid, start time): the one
that queued it until a worker starts it, then that worker. A run ends with its owner: the executor fails
every live run a dead worker owned, and start-up recovery interrupts only runs whose owner is gone. `RunStore.run` (or `track`, which also serves code running without a store) is the one place
that lifecycle is written: it starts the run, records progress, and on leaving decides done, failed or
cancelled from the exception, removing a failed run's artifacts (mlflow's `ActiveRun.__exit__` is the model).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from . import paths
from .progress import Cancelled, Progress, no_progress

STATUSES = ("queued", "running", "done", "failed", "cancelled", "interrupted")
LIVE = ("queued", "running")
TERMINAL = ("done", "failed", "cancelled", "interrupted")
# Progress is written to the record at most this often (seconds); the end of a phase always is.
PROGRESS_INTERVAL_S = 0.25
KINDS = ("train", "unlearn", "gold", "evaluate", "sweep", "compare")
JSON_COLUMNS = ("config", "forget", "metrics", "timings")

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    method TEXT,
    dataset TEXT,
    config TEXT NOT NULL DEFAULT '{}',
    forget TEXT,
    parent_sha256 TEXT,
    parent_path TEXT,
    cache_key TEXT,
    status TEXT NOT NULL,
    phase TEXT,
    progress REAL NOT NULL DEFAULT 0,
    message TEXT,
    metrics TEXT,
    timings TEXT,
    error TEXT,
    artifact_path TEXT,
    artifact_sha256 TEXT,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    phase_started_at REAL,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    worker_pid INTEGER,
    owner_host TEXT,
    owner_pid INTEGER,
    owner_started INTEGER
);
CREATE INDEX IF NOT EXISTS runs_cache ON runs(cache_key, status);
CREATE INDEX IF NOT EXISTS runs_created ON runs(created_at);
"""


# Columns added after the first release, with their declarations, for upgrading an existing store in place.
ADDED_COLUMNS = {"phase_started_at": "REAL", "cancel_requested": "INTEGER NOT NULL DEFAULT 0", "worker_pid": "INTEGER",
                 "owner_host": "TEXT", "owner_pid": "INTEGER", "owner_started": "INTEGER"}
DISK_FULL = "set DEEPCLEAN_HOME to a folder on a disk with free space, or free some space"


def _proc_stat(pid: int) -> list[str] | None:
    """Fields 3.. of /proc/PID/stat (state first), or None where there is no such process or no /proc."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


@dataclass(frozen=True)
class Owner:
    """A process answerable for a run. The start time (clock ticks since boot, from /proc) tells the
    original process from a later one that reuses its pid, as a restarted container's server does."""

    host: str
    pid: int
    started: int | None = None

    @classmethod
    def of(cls, pid: int | None = None) -> "Owner":
        """This process, or the process `pid` on this host."""
        pid = os.getpid() if pid is None else int(pid)
        stat = _proc_stat(pid)
        return cls(socket.gethostname(), pid, int(stat[19]) if stat else None)

    def alive(self) -> bool | None:
        """Whether the process still runs: True or False on this host, None on another (unknowable here)."""
        if self.host != socket.gethostname():
            return None
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        stat = _proc_stat(self.pid)
        if stat is None:
            return True  # no /proc to ask (not Linux): the pid exists
        return stat[0] not in ("Z", "X") and (self.started is None or int(stat[19]) == self.started)

    @staticmethod
    def of_record(rec: Any) -> "Owner | None":
        """The owner a record names (older records: the host here and the worker pid, if any)."""
        if rec["owner_pid"] is not None:
            return Owner(rec["owner_host"] or socket.gethostname(), rec["owner_pid"], rec["owner_started"])
        if rec["worker_pid"] is not None and rec["status"] == "running":
            return Owner(socket.gethostname(), rec["worker_pid"])
        return None


class StoreError(RuntimeError):
    """The run store cannot be used (unwritable folder, missing run); the message says what to do."""


class RunStore:
    """Run records and their artifacts; safe to open from several processes (WAL, busy timeout)."""

    def __init__(self, home: str | Path | None = None) -> None:
        self.home = Path(home).resolve() if home else paths.home()
        try:
            self.artifacts = self.home / "artifacts"
            self.artifacts.mkdir(parents=True, exist_ok=True)
            with self._connect() as db:
                db.execute("PRAGMA journal_mode=WAL")
                db.executescript(SCHEMA)
                have = {r["name"] for r in db.execute("PRAGMA table_info(runs)")}
                for name, decl in ADDED_COLUMNS.items():  # stores made by an older version gain the new columns
                    if name not in have:
                        db.execute(f"ALTER TABLE runs ADD COLUMN {name} {decl}")
        except (OSError, sqlite3.OperationalError) as e:
            raise StoreError(
                f"cannot use {self.home} for runs ({e}); set DEEPCLEAN_HOME to a writable folder with free space"
            ) from e

    def check(self) -> None:
        """Raise StoreError unless the store can be read and its folder written (a health check)."""
        try:
            with self._connect() as db:
                db.execute("SELECT count(*) FROM runs").fetchone()
            probe = self.home / f".health-{os.getpid()}-{uuid.uuid4().hex[:6]}"
            try:
                probe.write_bytes(b"ok")
            finally:
                probe.unlink(missing_ok=True)
        except (OSError, sqlite3.Error) as e:
            raise StoreError(f"cannot use {self.home} for runs ({e}); set DEEPCLEAN_HOME to a writable folder "
                             f"with free space") from e

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection in autocommit mode: each statement is its own transaction and waits (busy timeout)
        for the write lock, so no read is ever held open across a write (that upgrade fails at once)."""
        db = sqlite3.connect(self.home / "runs.sqlite", timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        try:
            db.execute("PRAGMA busy_timeout=30000")
            db.execute("PRAGMA synchronous=NORMAL")  # WAL: durable across crashes of the process, fsync at checkpoints
            yield db
        except sqlite3.OperationalError as e:
            if "full" in str(e):  # "database or disk is full"
                raise StoreError(f"no space left for the run store in {self.home} ({e}); {DISK_FULL}") from e
            raise
        finally:
            db.close()

    @staticmethod
    def _row(row: sqlite3.Row | None) -> dict[str, Any] | None:
        if row is None:
            return None
        d = dict(row)
        for c in JSON_COLUMNS:
            d[c] = json.loads(d[c]) if d[c] else ({} if c == "config" else None)
        return d

    def create(self, kind: str, *, method: str | None = None, dataset: str | None = None,
               config: dict | None = None, forget: dict | None = None, parent_sha256: str | None = None,
               parent_path: str | None = None, cache_key: str | None = None, status: str = "queued",
               owner: Owner | None = None) -> str:
        """Insert a new queued run record, owned by `owner` (default: this process), and return its id."""
        if kind not in KINDS:
            raise ValueError(f"unknown run kind {kind!r}; one of {KINDS}")
        run_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        owner = owner or Owner.of()
        with self._connect() as db:
            db.execute(
                "INSERT INTO runs (id, kind, method, dataset, config, forget, parent_sha256, parent_path, cache_key,"
                " status, created_at, owner_host, owner_pid, owner_started) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (run_id, kind, method, dataset, json.dumps(config or {}), json.dumps(forget) if forget else None,
                 parent_sha256, parent_path, cache_key, status, time.time(), owner.host, owner.pid, owner.started),
            )
        return run_id

    def update(self, run_id: str, **fields: Any) -> None:
        """Set columns of a run (JSON columns take Python objects). Status changes go through the lifecycle
        methods (start, finish, fail, request_cancel, mark_interrupted), which keep terminal states final."""
        if "status" in fields:
            raise ValueError("change a run's status through start/finish/fail, not update()")
        if not fields:
            return
        cols = []
        values = []
        for k, v in fields.items():
            cols.append(f"{k} = ?")
            values.append(json.dumps(v) if k in JSON_COLUMNS and v is not None else v)
        with self._connect() as db:
            cur = db.execute(f"UPDATE runs SET {', '.join(cols)} WHERE id = ?", (*values, run_id))
            if cur.rowcount == 0:
                raise StoreError(f"no run {run_id!r} in {self.home}")

    def _transition(self, run_id: str, to: str, allowed_from: tuple[str, ...], **fields: Any) -> bool:
        """Set status `to` (and `fields`) only if the run is now in one of `allowed_from`; True if it was."""
        cols = ["status = ?"] + [f"{k} = ?" for k in fields]
        values = [to] + [json.dumps(v) if k in JSON_COLUMNS and v is not None else v for k, v in fields.items()]
        marks = ",".join("?" * len(allowed_from))
        with self._connect() as db:
            cur = db.execute(f"UPDATE runs SET {', '.join(cols)} WHERE id = ? AND status IN ({marks})",
                             (*values, run_id, *allowed_from))
            if cur.rowcount == 0 and db.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is None:
                raise StoreError(f"no run {run_id!r} in {self.home}")
        return cur.rowcount == 1

    def start(self, run_id: str, worker_pid: int | None = None) -> bool:
        """queued → running, owned from now on by the process `worker_pid` (default: this process). False if
        the run is no longer queued (cancelled while it waited, or already started by someone else)."""
        now = time.time()
        owner = Owner.of(worker_pid)
        return self._transition(run_id, "running", ("queued",), started_at=now, phase="starting",
                                phase_started_at=now, progress=0.0, worker_pid=owner.pid, owner_host=owner.host,
                                owner_pid=owner.pid, owner_started=owner.started)

    def progress(self, run_id: str, phase: str, fraction: float, message: str = "") -> bool:
        """Record progress of a running run; returns True when a cancel has been requested for it."""
        with self._connect() as db:
            db.execute("UPDATE runs SET phase_started_at = CASE WHEN phase IS ? THEN phase_started_at ELSE ? END, "
                       "phase = ?, progress = ?, message = ? WHERE id = ? AND status = 'running'",
                       (phase, time.time(), phase, float(fraction), message, run_id))
            row = db.execute("SELECT cancel_requested FROM runs WHERE id = ?", (run_id,)).fetchone()
        return bool(row and row["cancel_requested"])

    def request_cancel(self, run_id: str) -> str:
        """Ask a run to stop. A queued run is cancelled at once; a running one stops at its next progress
        report. Returns the run's status after the request."""
        with self._connect() as db:
            db.execute("UPDATE runs SET cancel_requested = 1 WHERE id = ?", (run_id,))
            db.execute("UPDATE runs SET status = 'cancelled', error = 'cancelled before it started', finished_at = ? "
                       "WHERE id = ? AND status = 'queued'", (time.time(), run_id))
        return self.get(run_id)["status"]

    def mark_interrupted(self, alive: Callable[[Owner], bool | None] = Owner.alive) -> list[str]:
        """At start-up: live runs whose owner is gone become interrupted (queued ones whose server stopped,
        running ones whose worker died with it). Runs whose owner still runs (a worker that outlived the
        server, a command-line run) or lives on another host are left to it. Returns the ids interrupted."""
        with self._connect() as db:  # read everything first: no read stays open while the updates below wait
            rows = db.execute("SELECT * FROM runs WHERE status IN ('queued', 'running')").fetchall()
        ids = []
        for r in rows:
            owner = Owner.of_record(r)
            if owner is not None and alive(owner) is not False:
                continue
            reason = ("the server that queued this run stopped before a worker started it; launch it again"
                      if r["status"] == "queued" else
                      "the process running this run is gone (the server stopped or the worker died with it) "
                      "before it finished; launch it again")
            if self._transition(r["id"], "interrupted", LIVE, error=reason, finished_at=time.time()):
                ids.append(r["id"])
        return ids

    def live_owned_by(self, owner: Owner) -> list[str]:
        """Ids of the queued or running runs `owner` answers for."""
        with self._connect() as db:
            rows = db.execute("SELECT id FROM runs WHERE status IN ('queued', 'running') AND owner_host = ? AND "
                              "owner_pid = ? AND owner_started IS ?", (owner.host, owner.pid, owner.started))
            return [r["id"] for r in rows.fetchall()]

    def fail_owned_by(self, owner: Owner, error: str) -> list[str]:
        """Every live run `owner` answers for (a worker's job and the gold run it started) ends failed with
        `error`, its partial artifacts removed. Returns their ids."""
        ids = [rid for rid in self.live_owned_by(owner) if self.fail(rid, error)]
        for rid in ids:
            shutil.rmtree(self.artifacts / rid, ignore_errors=True)
        return ids

    def finish(self, run_id: str, *, metrics: dict | None = None, timings: dict | None = None,
               artifact_path: str | None = None, artifact_sha256: str | None = None) -> bool:
        """running → done with its outcome. False (and nothing written) if the run had already ended."""
        return self._transition(run_id, "done", ("running",), progress=1.0, finished_at=time.time(),
                                metrics=metrics, timings=timings, artifact_path=artifact_path,
                                artifact_sha256=artifact_sha256, message="")

    def fail(self, run_id: str, error: str, status: str = "failed") -> bool:
        """A live run ends `failed` (or `cancelled`) with the reason. False if it had already ended."""
        if status not in ("failed", "cancelled"):
            raise ValueError(f"a run fails as 'failed' or 'cancelled', not {status!r}")
        return self._transition(run_id, status, LIVE, error=error, finished_at=time.time())

    @contextmanager
    def run(self, kind: str | None = None, *, run_id: str | None = None, worker_pid: int | None = None,
            **fields: Any) -> Iterator["ActiveRun"]:
        """The lifecycle of one run: create it (or take the queued `run_id`), start it, and on leaving the
        block mark it done, or failed / cancelled from the exception with its artifacts removed.

        A run that was cancelled before it could start raises `Cancelled` here; one whose record ended
        while the block ran (marked interrupted, say) keeps its final state and its artifacts are removed."""
        if run_id is None:
            if kind is None:
                raise ValueError("name the kind of a new run, or the run_id of a queued one")
            run_id = self.create(kind, **fields)
        elif fields:
            self.update(run_id, **fields)
        if not self.start(run_id, worker_pid):
            status = self.get(run_id)["status"]
            raise Cancelled(f"run {run_id} was {status} before it started")
        active = ActiveRun(self, run_id)
        try:
            yield active
        except BaseException as e:
            self.fail(run_id, f"{type(e).__name__}: {e}", status="cancelled" if isinstance(e, Cancelled) else "failed")
            shutil.rmtree(self.artifacts / run_id, ignore_errors=True)
            raise
        if not active.finished:
            active.finish()
        if not active.recorded:
            shutil.rmtree(self.artifacts / run_id, ignore_errors=True)

    def get(self, run_id: str) -> dict[str, Any]:
        with self._connect() as db:
            row = self._row(db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone())
        if row is None:
            raise StoreError(f"no run {run_id!r} in {self.home}")
        return row

    def list(self, *, kind: str | None = None, status: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        """Runs, newest first, optionally filtered by kind and status."""
        q, args = "SELECT * FROM runs WHERE 1=1", []
        if kind:
            q += " AND kind = ?"
            args.append(kind)
        if status:
            q += " AND status = ?"
            args.append(status)
        q += " ORDER BY created_at DESC LIMIT ?"
        with self._connect() as db:
            return [self._row(r) for r in db.execute(q, (*args, limit)).fetchall()]

    def find_cached(self, cache_key: str) -> dict[str, Any] | None:
        """The newest finished run with this cache key whose artifact (if any) still exists."""
        with self._connect() as db:
            rows = db.execute("SELECT * FROM runs WHERE cache_key = ? AND status = 'done' ORDER BY created_at DESC",
                              (cache_key,)).fetchall()
        for r in map(self._row, rows):
            if not r["artifact_path"] or Path(r["artifact_path"]).is_file():
                return r
        return None

    def artifact_dir(self, run_id: str) -> Path:
        d = self.artifacts / run_id
        d.mkdir(parents=True, exist_ok=True)
        return d

    def delete(self, run_id: str) -> None:
        """Remove a finished run's record and its artifact folder (a live run is cancelled first)."""
        if self.get(run_id)["status"] in LIVE:
            raise StoreError(f"run {run_id} is still {self.get(run_id)['status']}; cancel it before deleting it")
        with self._connect() as db:
            db.execute("DELETE FROM runs WHERE id = ? AND status NOT IN ('queued', 'running')", (run_id,))
        shutil.rmtree(self.artifacts / run_id, ignore_errors=True)


class ActiveRun:
    """A run in progress (see `RunStore.run`): report progress to it, write artifacts under it, finish it."""

    def __init__(self, store: RunStore | None, run_id: str | None) -> None:
        self.store = store
        self.id = run_id
        self.finished = False
        self.recorded = True  # whether finishing reached the record (False if it had already ended)

    def progress(self, inner: Progress = no_progress) -> Progress:
        """A progress callback that also writes phase and fraction to the record (at most every
        PROGRESS_INTERVAL_S) and raises `Cancelled` once a cancel has been requested through the store."""
        if self.store is None:
            return inner
        store, run_id, last = self.store, self.id, [0.0]

        def report(phase: str, fraction: float, message: str = "") -> None:
            now = time.monotonic()
            if now - last[0] > PROGRESS_INTERVAL_S or fraction >= 1.0:
                last[0] = now
                if store.progress(run_id, phase, fraction, message):
                    raise Cancelled(f"run {run_id} was cancelled")
            inner(phase, fraction, message)

        return report

    def update(self, **fields: Any) -> None:
        """Set descriptive columns of the record (dataset, cache key, ...)."""
        if self.store is not None:
            self.store.update(self.id, **fields)

    def artifact_dir(self) -> Path | None:
        """The run's artifact folder (created), or None without a store."""
        return self.store.artifact_dir(self.id) if self.store is not None else None

    def finish(self, **outcome: Any) -> None:
        """Record the outcome (metrics, timings, artifact path and sha256); the run is done."""
        self.finished = True
        if self.store is not None:
            self.recorded = self.store.finish(self.id, **outcome)


@contextmanager
def track(store: RunStore | None, kind: str | None = None, **kwargs: Any) -> Iterator[ActiveRun]:
    """`store.run(...)`, or a run that records nothing when there is no store (library use, tests)."""
    if store is None:
        yield ActiveRun(None, None)
    else:
        with store.run(kind, **kwargs) as active:
            yield active
