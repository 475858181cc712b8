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
    s.mark_interrupted()  # the two live ones (queued, and running with a dead worker) end interrupted
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
        s.mark_interrupted(alive=lambda pid: False)  # marked interrupted while it runs
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
