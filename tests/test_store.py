import multiprocessing as mp
import sqlite3

import pytest

from core.store import RunStore, StoreError


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
    s.finish(rid, artifact_path=str(tmp_path / "gone.safetensors"))
    assert s.find_cached("k") is None


def _writer(home, n):
    s = RunStore(home)
    for i in range(n):
        rid = s.create("evaluate")
        s.progress(rid, "p", i / n)
        s.finish(rid)


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
