import multiprocessing as mp
import os
import sqlite3

import pytest

from core.progress import Cancelled
from core.store import RunStore, StoreError, track


def test_lifecycle_of_a_run(tmp_path, database_url):
    s = RunStore(tmp_path / "h")
    rid = s.create("unlearn", method="deepclean", dataset="digits", config={"gamma": 2.0},
                   forget={"kind": "classes", "classes": [0]}, parent_sha256="ab", cache_key="k1")
    assert s.get(rid)["status"] == "queued"
    s.start(rid)
    s.progress(rid, "fisher on Df", 0.5, "half")
    r = s.get(rid)
    assert (r["status"], r["phase"], r["progress"], r["config"]) == ("running", "fisher on Df", 0.5, {"gamma": 2.0})
    assert s.find_cached("k1") is None
    s.finish(rid, metrics={"acc": 0.9}, timings={"total": 1.0})
    assert s.find_cached("k1")["id"] == rid and s.get(rid)["metrics"] == {"acc": 0.9}
    assert [x["id"] for x in s.list(kind="unlearn")] == [rid]
    s.delete(rid)
    with pytest.raises(StoreError):
        s.get(rid)


def test_failure_keeps_the_error_and_wal_is_on(tmp_path, database_url):
    s = RunStore(tmp_path / "h")
    rid = s.create("gold")
    s.fail(rid, "boom")
    assert s.get(rid)["status"] == "failed" and s.get(rid)["error"] == "boom"
    if database_url is None:
        db = sqlite3.connect(tmp_path / "h" / "runs.sqlite")
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    else:
        assert not (tmp_path / "h" / "runs.sqlite").exists()  # the records are on the server


def test_cache_ignores_runs_whose_artifact_vanished(tmp_path, database_url):
    s = RunStore(tmp_path / "h")
    rid = s.create("gold", cache_key="k")
    s.start(rid)
    s.finish(rid, artifact_path=str(tmp_path / "gone.safetensors"))
    assert s.find_cached("k") is None


def test_terminal_states_are_final(tmp_path, database_url):
    s = RunStore(tmp_path / "h")
    done, failed, interrupted, queued = (s.create("unlearn") for _ in range(4))
    for rid in (done, failed, interrupted):
        assert s.start(rid, worker_pid=2**22 + 1)
    assert s.finish(done, metrics={"a": 1}) and s.fail(failed, "boom")
    s.mark_interrupted(alive=lambda owner: False)  # owners gone: the two live ones (queued, running) end interrupted
    assert s.get(interrupted)["status"] == "interrupted" and s.get(queued)["status"] == "interrupted"
    # a worker that finishes, fails or reports after its run ended changes nothing
    assert not s.finish(interrupted, metrics={"late": True}) and not s.fail(done, "late") and not s.start(done)
    assert not s.progress(interrupted, "late", 0.9)
    assert [s.get(r)["status"] for r in (done, failed, interrupted)] == ["done", "failed", "interrupted"]
    assert s.get(interrupted)["metrics"] is None and s.get(interrupted)["phase"] != "late"
    assert s.get(done)["error"] is None and s.get(failed)["error"] == "boom"
    with pytest.raises(ValueError, match="start/finish/fail"):
        s.update(done, status="running")


def test_the_run_context_records_done_failed_and_cancelled(tmp_path, database_url):
    s = RunStore(tmp_path / "h")
    with s.run("train", method="train") as run:
        assert s.get(run.id)["status"] == "running" and s.get(run.id)["worker_pid"] == os.getpid()
        (run.artifact_dir() / "model.bin").write_bytes(b"x")
        run.finish(metrics={"acc": 1.0})
    assert s.get(run.id)["status"] == "done" and (s.artifacts / run.id / "model.bin").exists()
    for exc, status in ((RuntimeError("broken"), "failed"), (Cancelled("stop"), "cancelled")):
        with pytest.raises(type(exc)):
            with s.run("unlearn") as run:
                (run.artifact_dir() / "partial").write_bytes(b"x")
                raise exc
        rec = s.get(run.id)
        assert rec["status"] == status and str(exc) in rec["error"]
        assert not (s.artifacts / run.id).exists()  # the partial artifact is gone
    queued = s.create("unlearn")
    s.request_cancel(queued)
    with pytest.raises(Cancelled, match="cancelled before it started"):
        with s.run(run_id=queued):
            raise AssertionError("a cancelled run must not start")
    with s.run("evaluate") as run:
        s.mark_interrupted(alive=lambda owner: False)  # marked interrupted while it runs
        (run.artifact_dir() / "result").write_bytes(b"x")
        run.finish(metrics={"late": 1})
    assert s.get(run.id)["status"] == "interrupted" and not (s.artifacts / run.id).exists()
    with track(None, "unlearn") as run:  # no store: nothing is recorded, nothing fails
        assert run.id is None and run.artifact_dir() is None
        run.finish(metrics={})


def _writer(home, n):
    s = RunStore(home)
    for i in range(n):
        with s.run("evaluate") as run:
            s.progress(run.id, "p", i / n)


def test_concurrent_processes_lose_no_record(tmp_path, database_url):
    home = tmp_path / "h"
    RunStore(home)
    procs = [mp.get_context("spawn").Process(target=_writer, args=(home, 25)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert all(p.exitcode == 0 for p in procs)
    runs = RunStore(home).list(limit=1000)
    assert len(runs) == 100 and len({r["id"] for r in runs}) == 100 and all(r["status"] == "done" for r in runs)


def test_unwritable_home_gives_a_clear_message(tmp_path, database_url):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="DEEPCLEAN_HOME"):
        RunStore(blocker / "sub")


def _hammer(home, n, worker):
    s = RunStore(home)
    for i in range(n):
        with s.run("evaluate", method=f"w{worker}") as run:
            s.progress(run.id, "p", 0.5)


def _recover_repeatedly(home, until):
    s = RunStore(home)
    while not os.path.exists(until):
        s.mark_interrupted()


def test_eight_processes_and_recovery_at_once_lose_nothing_and_never_report_locked(tmp_path, database_url):
    """8 processes × 150 runs while start-up recovery runs over and over (issue 13, item 9)."""
    home, stop = tmp_path / "h", tmp_path / "stop"
    RunStore(home)
    ctx = mp.get_context("spawn")
    recovery = ctx.Process(target=_recover_repeatedly, args=(home, str(stop)))
    recovery.start()
    procs = [ctx.Process(target=_hammer, args=(home, 150, k)) for k in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(300)
    stop.touch()
    recovery.join(60)
    assert [p.exitcode for p in procs] == [0] * 8 and recovery.exitcode == 0
    runs = RunStore(home).list(limit=10_000)
    assert len(runs) == 1200 and len({r["id"] for r in runs}) == 1200
    assert {r["status"] for r in runs} == {"done"}  # recovery touched no live run: every owner was alive
    assert RunStore(home).mark_interrupted() == []


CLI_RUN = """
import sys, time, pathlib
from core.store import RunStore
s = RunStore(sys.argv[1])
waiting = s.create("unlearn", method="deepclean")          # a sweep's job, queued by this live process
with s.run("unlearn", method="deepclean") as run:          # a command-line run in progress
    print(run.id, waiting, flush=True)
    while not pathlib.Path(sys.argv[2]).exists():
        time.sleep(0.05)
    run.finish(metrics={"ok": 1})
"""


def test_recovery_leaves_runs_whose_owner_lives_and_a_reused_pid_is_not_the_owner(tmp_path, database_url):
    """Issue 13, item 8: a restarted server does not interrupt a live command-line run or its queue, and
    terminal states stay final."""
    import socket
    import subprocess
    import sys
    from pathlib import Path

    from core.store import Owner

    home, go = tmp_path / "h", tmp_path / "go"
    s = RunStore(home)
    cli = subprocess.Popen([sys.executable, "-c", CLI_RUN, str(home), str(go)], stdout=subprocess.PIPE, text=True,
                           cwd=Path(__file__).resolve().parents[1])
    running, queued = cli.stdout.readline().split()
    me = Owner.of()
    impostor = s.create("unlearn", owner=Owner(me.host, me.pid, (me.started or 0) + 1))  # our pid, another process
    elsewhere = s.create("unlearn", owner=Owner(socket.gethostname() + "-other", 1))  # a worker on another host
    assert sorted(s.mark_interrupted()) == [impostor]  # the restarted server's recovery
    assert s.get(running)["status"] == "running" and s.get(queued)["status"] == "queued"
    assert s.get(elsewhere)["status"] == "queued"
    go.touch()
    assert cli.wait(30) == 0
    rec = s.get(running)
    assert rec["status"] == "done" and rec["error"] is None and rec["metrics"] == {"ok": 1}
    assert (rec["owner_host"], rec["owner_pid"]) == (socket.gethostname(), cli.pid)
    assert s.mark_interrupted() == [queued]  # its owner is gone now
    assert not s.finish(impostor, metrics={}) and s.get(impostor)["status"] == "interrupted"


def test_a_home_whose_runs_live_elsewhere_is_refused_with_the_fix(tmp_path, postgres_server, monkeypatch):
    """A worker started without DEEPCLEAN_DATABASE_URL must not record into a SQLite file nobody reads, and
    a SQLite home must not be split by a process pointed at a server."""
    from pg_server import database

    with database(postgres_server) as url:
        monkeypatch.setenv("DEEPCLEAN_DATABASE_URL", url)
        RunStore(tmp_path / "server-home")
        monkeypatch.delenv("DEEPCLEAN_DATABASE_URL")
        with pytest.raises(StoreError, match="live in postgresql database .* set DEEPCLEAN_DATABASE_URL"):
            RunStore(tmp_path / "server-home")
        assert not (tmp_path / "server-home" / "runs.sqlite").exists()
        RunStore(tmp_path / "sqlite-home").create("gold")
        monkeypatch.setenv("DEEPCLEAN_DATABASE_URL", url)
        with pytest.raises(StoreError, match="live in sqlite .* unset DEEPCLEAN_DATABASE_URL"):
            RunStore(tmp_path / "sqlite-home")


def test_the_password_comes_from_a_file_and_never_shows(tmp_path, postgres_server, monkeypatch):
    from sqlalchemy import create_engine, text

    from pg_server import database

    with database(postgres_server) as url:
        with create_engine(url, isolation_level="AUTOCOMMIT").connect() as db:
            db.execute(text("CREATE ROLE deepclean LOGIN PASSWORD 's3cret-pw'"))
            db.execute(text("GRANT ALL ON SCHEMA public TO deepclean"))
        as_role = url.replace("postgres@", "deepclean@")
        secret = tmp_path / "db_password"
        secret.write_text("s3cret-pw\n")
        monkeypatch.setenv("DEEPCLEAN_DATABASE_URL", as_role)
        monkeypatch.setenv("DEEPCLEAN_DATABASE_PASSWORD_FILE", str(secret))
        s = RunStore(tmp_path / "h")
        assert s.get(s.create("gold"))["status"] == "queued"
        assert "s3cret" not in s.where and "s3cret" not in (tmp_path / "h" / "store.json").read_text()
        monkeypatch.setenv("DEEPCLEAN_DATABASE_PASSWORD_FILE", str(tmp_path / "missing"))
        with pytest.raises(StoreError, match="DEEPCLEAN_DATABASE_PASSWORD_FILE"):
            RunStore(tmp_path / "h")
        from core import store_db

        store_db.dispose(s.url)


def test_an_unreachable_database_server_gets_a_clear_message(tmp_path, monkeypatch):
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("DEEPCLEAN_DATABASE_URL", f"postgresql+psycopg://u:topsecret@127.0.0.1:{port}/runs")
    with pytest.raises(StoreError, match="check that the server is up and DEEPCLEAN_DATABASE_URL is right") as e:
        RunStore(tmp_path / "h")
    assert "topsecret" not in str(e.value)

    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from core.paths import REPO_ROOT

    st.cache_resource.clear()
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=60).run()  # the app says so and keeps serving
    assert not at.exception and "cannot use the run database" in at.error[0].value
    assert "DEEPCLEAN_DATABASE_URL" in at.error[0].value and "topsecret" not in at.error[0].value


def _first_use(home, q):
    try:
        q.put(RunStore(home).create("gold"))
    except Exception as e:  # noqa: BLE001 - reported to the test
        q.put(repr(e))


def test_processes_opening_a_new_server_database_at_once_all_get_the_table(tmp_path, postgres_server, monkeypatch):
    """An app and its workers starting together on an empty PostgreSQL database race to create the table."""
    from pg_server import database

    with database(postgres_server) as url:
        monkeypatch.setenv("DEEPCLEAN_DATABASE_URL", url)
        ctx = mp.get_context("spawn")
        q = ctx.Queue()
        procs = [ctx.Process(target=_first_use, args=(tmp_path / "h", q)) for _ in range(6)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        got = [q.get(timeout=5) for _ in procs]
        assert all(not g.startswith(("StoreError", "Integrity", "Programming")) for g in got), got
        assert len(RunStore(tmp_path / "h").list()) == 6
