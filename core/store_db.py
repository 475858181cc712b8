"""Where run records live: the `runs` table, and the database engine that holds it, through SQLAlchemy.

SQLite (WAL) in DEEPCLEAN_HOME is the embedded default, for one host. DEEPCLEAN_DATABASE_URL selects a
server database instead (`postgresql+psycopg://user:password@host:5432/deepclean`), which every host of a
cluster can reach; artifacts then live under a DEEPCLEAN_HOME that every host mounts. SQLAlchemy writes
each dialect's SQL (`IS NOT DISTINCT FROM` on PostgreSQL, `IS` on SQLite); every statement runs in
autocommit, so a status change is one atomic UPDATE and no read is held open across a write.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import (BigInteger, Column, Double, Index, Integer, MetaData, String, Table, Text, create_engine,
                        event, inspect, text)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, ProgrammingError
from sqlalchemy.pool import NullPool

DATABASE_URL_ENV = "DEEPCLEAN_DATABASE_URL"
PASSWORD_FILE_ENV = "DEEPCLEAN_DATABASE_PASSWORD_FILE"
SQLITE_FILE = "runs.sqlite"
# A file in DEEPCLEAN_HOME naming the database its runs live in (without the password), so a process that
# opens the home with another database (a worker without DEEPCLEAN_DATABASE_URL) is refused, not split off.
MARKER_FILE = "store.json"
SQLITE_BUSY_MS = 30_000  # how long a SQLite writer waits for the write lock before giving up
POOL_SIZE = 4  # server connections kept open per process (a worker reports progress a few times a second)
CONNECT_TIMEOUT_S = 10  # a database server that does not answer fails a page in this long, with the reason

metadata = MetaData()
runs = Table(
    "runs", metadata,
    Column("id", String(64), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("method", Text),
    Column("dataset", Text),
    Column("config", Text, nullable=False, server_default="{}"),
    Column("forget", Text),
    Column("parent_sha256", Text),
    Column("parent_path", Text),
    Column("cache_key", Text),
    Column("status", String(16), nullable=False),
    Column("phase", Text),
    Column("progress", Double, nullable=False, server_default="0"),
    Column("message", Text),
    Column("metrics", Text),
    Column("timings", Text),
    Column("error", Text),
    Column("artifact_path", Text),
    Column("artifact_sha256", Text),
    Column("created_at", Double, nullable=False),  # seconds since the epoch: float64, never a 4-byte REAL
    Column("started_at", Double),
    Column("finished_at", Double),
    Column("phase_started_at", Double),
    Column("cancel_requested", Integer, nullable=False, server_default="0"),
    Column("worker_pid", Integer),
    Column("owner_host", Text),
    Column("owner_pid", Integer),
    Column("owner_started", BigInteger),  # clock ticks since boot: past 2**31 after ~8 months of uptime
)
Index("runs_cache", runs.c.cache_key, runs.c.status)
Index("runs_created", runs.c.created_at)

# Columns added after the first release, for upgrading an existing SQLite store in place.
ADDED_COLUMNS = ("phase_started_at", "cancel_requested", "worker_pid", "owner_host", "owner_pid", "owner_started")

DDL_RETRY_S = 0.5  # how long the loser of a race to create the table waits before it looks again
_engines: dict[tuple[str, int], Engine] = {}
_prepared: set[Engine] = set()
_lock = threading.Lock()


def database_url(home: Path) -> str:
    """The URL of the run store for `home`: DEEPCLEAN_DATABASE_URL if set, else SQLite in the home. The
    password may come from the file DEEPCLEAN_DATABASE_PASSWORD_FILE names (a compose or Kubernetes secret),
    so it need not sit in the URL or the environment."""
    url = os.environ.get(DATABASE_URL_ENV, "").strip()
    if not url:
        return f"sqlite:///{home / SQLITE_FILE}"
    secret = os.environ.get(PASSWORD_FILE_ENV, "").strip()
    if secret:
        try:
            password = Path(secret).read_text().strip()
        except OSError as e:
            raise ValueError(f"cannot read the database password from {PASSWORD_FILE_ENV}={secret} ({e}); "
                             "mount the secret there or unset the variable") from e
        url = make_url(url).set(password=password).render_as_string(hide_password=False)
    return url


def shown(url: str) -> str:
    """The URL with its password hidden (for messages and the marker file)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable URL>"


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
    cur.execute("PRAGMA synchronous=NORMAL")  # WAL: durable across crashes of the process, fsync at checkpoints
    cur.close()


def engine_for(url: str) -> Engine:
    """One engine per URL and process (a forked or spawned worker makes its own: pooled connections are
    never shared across processes). SQLite opens a connection per use, as a file database wants."""
    key = (url, os.getpid())
    with _lock:
        if key not in _engines:
            if is_sqlite(url):
                eng = create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT",
                                    connect_args={"timeout": SQLITE_BUSY_MS / 1000, "check_same_thread": False})
                event.listen(eng, "connect", _sqlite_pragmas)
            else:
                args = {"connect_timeout": CONNECT_TIMEOUT_S} if url.startswith("postgresql") else {}
                eng = create_engine(url, isolation_level="AUTOCOMMIT", pool_size=POOL_SIZE, pool_pre_ping=True,
                                    connect_args=args)
            _engines[key] = eng
        return _engines[key]


def prepare(engine: Engine) -> None:
    """Create the table and its indexes if missing; on SQLite, WAL mode and columns newer than the store.
    On a server database once per engine and process (a SQLite file may be removed and made again under a
    running server, so it is looked at each time: a local, cheap check). Two processes creating a new server
    database's table at once (an app and a worker starting together) race on PostgreSQL's catalog, so the
    loser looks again instead of failing."""
    if engine in _prepared:
        return
    try:
        _prepare(engine)
    except (IntegrityError, ProgrammingError):
        time.sleep(DDL_RETRY_S)
        _prepare(engine)
    if engine.dialect.name != "sqlite":
        _prepared.add(engine)


def _prepare(engine: Engine) -> None:
    with engine.connect() as db:
        if engine.dialect.name == "sqlite":
            db.execute(text("PRAGMA journal_mode=WAL"))
    metadata.create_all(engine, checkfirst=True)
    have = {c["name"] for c in inspect(engine).get_columns("runs")}
    with engine.connect() as db:
        for name in ADDED_COLUMNS:  # stores made by an older version gain the new columns
            if name not in have:
                col = runs.c[name]
                decl = col.type.compile(engine.dialect)
                default = f" NOT NULL DEFAULT {col.server_default.arg}" if col.server_default is not None else ""
                db.execute(text(f"ALTER TABLE runs ADD COLUMN {name} {decl}{default}"))


def identity(url: str) -> str:
    """What names a run database independently of the route to it: SQLite in the home folder, or the
    server's backend, database and user (hosts reach one server under different names)."""
    if is_sqlite(url):
        return f"sqlite ({SQLITE_FILE} in this folder)"
    u = make_url(url)
    return f"{u.get_backend_name()} database {u.database!r} as user {u.username!r}"


def check_marker(home: Path, url: str) -> None:
    """Write the home's marker on first use; refuse a home whose runs live in another database (a worker
    started without DEEPCLEAN_DATABASE_URL would otherwise record into a SQLite file nobody reads)."""
    marker = home / MARKER_FILE
    mine = identity(url)
    theirs = None
    if marker.is_file():
        try:
            theirs = json.loads(marker.read_text()).get("database")
        except (OSError, ValueError, AttributeError):
            theirs = None
    elif (home / SQLITE_FILE).exists():
        theirs = identity("sqlite://")  # a home made before the marker existed
    if theirs and theirs != mine:
        hint = (f"unset {DATABASE_URL_ENV} to use it" if theirs.startswith("sqlite") else
                f"set {DATABASE_URL_ENV} to that database's URL on this host")
        raise ValueError(f"the runs of {home} live in {theirs}, but this process would use {mine}; "
                         f"{hint}, or point DEEPCLEAN_HOME at another folder")
    if not marker.is_file():
        tmp = marker.with_name(f".{MARKER_FILE}.{os.getpid()}")
        tmp.write_text(json.dumps({"database": mine}))
        os.replace(tmp, marker)


def dispose(url: str) -> None:
    """Close this process's pooled connections to `url` (tests dropping a database; a clean shutdown)."""
    with _lock:
        eng = _engines.pop((url, os.getpid()), None)
    if eng is not None:
        _prepared.discard(eng)
        eng.dispose()
