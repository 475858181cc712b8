"""The run store: one SQLite (WAL) record per run plus an artifact folder, under DEEPCLEAN_HOME.

A run moves queued → running → done, or ends failed / cancelled / interrupted. Those four end states are
final: no later write changes them (a worker that finishes after its run was marked interrupted leaves it
interrupted). `RunStore.run` (or `track`, which also serves code running without a store) is the one place
that lifecycle is written: it starts the run, records progress, and on leaving decides done, failed or
cancelled from the exception, removing a failed run's artifacts (mlflow's `ActiveRun.__exit__` is the model).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
import uuid
from contextlib import contextmanager
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
    worker_pid INTEGER
);
CREATE INDEX IF NOT EXISTS runs_cache ON runs(cache_key, status);
CREATE INDEX IF NOT EXISTS runs_created ON runs(created_at);
"""


# Columns added after the first release, with their declarations, for upgrading an existing store in place.
ADDED_COLUMNS = {"phase_started_at": "REAL", "cancel_requested": "INTEGER NOT NULL DEFAULT 0", "worker_pid": "INTEGER"}


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

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.home / "runs.sqlite", timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA busy_timeout=30000")
        try:
            yield db
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
               parent_path: str | None = None, cache_key: str | None = None, status: str = "queued") -> str:
        """Insert a new run record and return its id."""
        if kind not in KINDS:
            raise ValueError(f"unknown run kind {kind!r}; one of {KINDS}")
        run_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        with self._connect() as db:
            db.execute(
                "INSERT INTO runs (id, kind, method, dataset, config, forget, parent_sha256, parent_path, cache_key,"
                " status, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (run_id, kind, method, dataset, json.dumps(config or {}), json.dumps(forget) if forget else None,
                 parent_sha256, parent_path, cache_key, status, time.time()),
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
        """queued → running, owned by `worker_pid` (default: this process). False if the run is no longer
        queued (cancelled while it waited, or already started by someone else)."""
        now = time.time()
        return self._transition(run_id, "running", ("queued",), started_at=now, phase="starting",
                                phase_started_at=now, progress=0.0,
                                worker_pid=worker_pid if worker_pid is not None else os.getpid())

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

    def mark_interrupted(self, alive: Callable[[int], bool] = lambda pid: False,
                         reason: str = "the server stopped while this run was in progress") -> list[str]:
        """At start-up: runs a previous server left queued (its queue is gone), and running runs whose worker
        process is no longer `alive`, become interrupted. Runs whose worker still lives are left to finish."""
        ids = []
        with self._connect() as db:
            for r in db.execute("SELECT id, status, worker_pid FROM runs WHERE status IN ('queued', 'running')"):
                if r["status"] == "running" and r["worker_pid"] is not None and alive(r["worker_pid"]):
                    continue
                db.execute("UPDATE runs SET status = 'interrupted', error = ?, finished_at = ? WHERE id = ? "
                           "AND status IN ('queued', 'running')", (reason, time.time(), r["id"]))
                ids.append(r["id"])
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
        """Remove a run record and its artifact folder."""
        self.get(run_id)
        with self._connect() as db:
            db.execute("DELETE FROM runs WHERE id = ?", (run_id,))
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
