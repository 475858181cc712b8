"""A throwaway PostgreSQL server for the tests: Debian's `postgresql` binaries, a cluster in a temporary
folder owned by a non-root user (PostgreSQL refuses to run as root), listening on 127.0.0.1 only, with
trust authentication (nothing else can reach it). `make test` installs the package, like Chromium."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

UNPRIVILEGED_USER = "nobody"  # who owns and runs the cluster when the tests run as root
START_TIMEOUT_S = 60


def binaries() -> Path | None:
    """The folder with initdb and pg_ctl: on PATH, or Debian's /usr/lib/postgresql/<version>/bin."""
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    return Path(versions[-1]).parent if versions else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_owner(cmd: list[str]) -> list[str]:
    """`cmd` run as the unprivileged user when this process is root."""
    if os.geteuid() != 0:
        return cmd
    return ["setpriv", f"--reuid={UNPRIVILEGED_USER}", f"--regid={pwd.getpwnam(UNPRIVILEGED_USER).pw_gid}",
            "--clear-groups", *cmd]


@contextmanager
def server() -> Iterator[str]:
    """Start a cluster and yield the admin URL (`postgresql+psycopg://postgres@127.0.0.1:PORT/postgres`)."""
    bindir = binaries()
    if bindir is None:
        raise FileNotFoundError("PostgreSQL is not installed (Debian: apt-get install postgresql; `make test` does it)")
    root = Path(tempfile.mkdtemp(prefix="deepclean-pg-"))
    data, port = root / "data", _free_port()
    if os.geteuid() == 0:
        os.chmod(root, 0o755)
        shutil.chown(root, UNPRIVILEGED_USER)
    env = {**os.environ, "LC_ALL": "C"}
    try:
        subprocess.run(_as_owner([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
                                  "--no-sync", "-E", "UTF8"]), check=True, capture_output=True, env=env)
        opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        subprocess.run(_as_owner([str(bindir / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(root / "log"),
                                  "-w", "-t", str(START_TIMEOUT_S), "start"]), check=True, capture_output=True, env=env)
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(_as_owner([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                       capture_output=True, env=env)
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def database(admin_url: str) -> Iterator[str]:
    """A fresh database on the server for one test; dropped afterwards."""
    from sqlalchemy import create_engine, text

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as db:
        db.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        from core import store_db

        store_db.dispose(admin_url.rsplit("/", 1)[0] + f"/{name}")
        deadline = time.monotonic() + 30
        with admin.connect() as db:
            while True:  # processes of the test may still hold connections for a moment
                db.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                           {"n": name})
                try:
                    db.execute(text(f"DROP DATABASE IF EXISTS {name}"))
                    break
                except Exception:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
        admin.dispose()
