import multiprocessing as mp
import os
import sqlite3

import pytest

from core.progress import Cancelled
from core.store import RunStore, StoreError, track


def test_lifecycle_of_a_run(tmp_path):
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


def test_failure_keeps_the_error_and_wal_is_on(tmp_path):
    s = RunStore(tmp_path / "h")
    rid = s.create("gold")
    s.fail(rid, "boom")
    assert s.get(rid)["status"] == "failed" and s.get(rid)["error"] == "boom"
    db = sqlite3.connect(tmp_path / "h" / "runs.sqlite")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_cache_ignores_runs_whose_artifact_vanished(tmp_path):
    s = RunStore(tmp_path / "h")
    rid = s.create("gold", cache_key="k")
    s.start(rid)
    s.finish(rid, artifact_path=str(tmp_path / "gone.safetensors"))
    assert s.find_cached("k") is None


def test_terminal_states_are_final(tmp_path):
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


def test_the_run_context_records_done_failed_and_cancelled(tmp_path):
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


def test_concurrent_processes_lose_no_record(tmp_path):
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


def test_unwritable_home_gives_a_clear_message(tmp_path):
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


def test_eight_processes_and_recovery_at_once_lose_nothing_and_never_report_locked(tmp_path):
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


def test_recovery_leaves_runs_whose_owner_lives_and_a_reused_pid_is_not_the_owner(tmp_path):
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
