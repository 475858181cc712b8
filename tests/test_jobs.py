"""The job executor: background worker processes, order, cancellation, a killed worker, interrupted runs."""

import os
import signal
import socket
import time

import pytest

from core.checkpoint import sha256_file
from core.forget import ForgetSpec
from core.jobs import JobRequest, LocalExecutor, execute
from core.methods import MethodError
from core.display import eta_seconds
from core.progress import Cancelled
from core.store import ActiveRun, Owner, RunStore

CLASS0 = ForgetSpec.of_classes([0]).to_dict()
LONG = {"epochs": 500}  # fine-tuning long enough to be caught running


def wait_status(store, run_id, wanted, timeout=120):
    deadline = time.monotonic() + timeout
    while store.get(run_id)["status"] not in wanted:
        rec = store.get(run_id)
        assert time.monotonic() < deadline, (rec["status"], rec["phase"], rec["progress"], rec["error"], rec["worker_pid"])
        time.sleep(0.1)
    return store.get(run_id)


def test_jobs_run_in_worker_processes_in_order(shipped):
    ex = LocalExecutor(RunStore(), workers=1)
    ids = [ex.submit(JobRequest(str(shipped), CLASS0, method=m)) for m in ("zero_weights", "ssd", "deepclean")]
    assert [ex.store.get(i)["status"] for i in ids] == ["queued"] * 3  # submit returns at once
    assert [ex.wait(i, timeout=240) for i in ids] == ["done"] * 3
    recs = [ex.store.get(i) for i in ids]
    assert recs[0]["started_at"] <= recs[1]["started_at"] <= recs[2]["started_at"]
    assert recs[0]["finished_at"] <= recs[1]["started_at"]  # one worker: one at a time, in order
    assert all(r["worker_pid"] not in (None, os.getpid()) for r in recs)
    assert recs[2]["metrics"]["models"]["unlearned"]["acc_forget"] <= 0.02
    assert (ex.store.home / "logs" / f"{ids[0]}.log").is_file()


def test_cancel_queued_and_running_jobs_and_a_killed_worker_fails_cleanly(shipped):
    before = sha256_file(shipped)
    ex = LocalExecutor(RunStore(), workers=1)
    running = ex.submit(JobRequest(str(shipped), CLASS0, method="finetune", config=LONG))
    waiting = ex.submit(JobRequest(str(shipped), CLASS0, method="finetune", config=LONG))
    assert ex.cancel(waiting) == "cancelled"
    wait_status(ex.store, running, ("running",))
    while ex.store.get(running)["phase"] != "fine-tuning":
        time.sleep(0.1)
    ex.cancel(running)
    rec = wait_status(ex.store, running, ("cancelled", "failed", "done"), timeout=60)
    assert rec["status"] == "cancelled" and "cancelled" in rec["error"]
    assert not (ex.store.artifacts / running).exists()
    assert ex.wait(waiting) == "cancelled" and ex.store.get(waiting)["started_at"] is None

    victim = ex.submit(JobRequest(str(shipped), CLASS0, method="finetune", config=LONG))
    wait_status(ex.store, victim, ("running",))
    os.kill(ex.worker_pid(victim), signal.SIGKILL)
    rec = wait_status(ex.store, victim, ("failed",), timeout=30)
    assert "killed by signal 9" in rec["error"]
    assert not (ex.store.artifacts / victim).exists()
    assert ex.wait(ex.submit(JobRequest(str(shipped), CLASS0, method="zero_weights")), timeout=120) == "done"
    assert sha256_file(shipped) == before


def test_requests_that_cannot_run_are_refused_before_queueing(shipped):
    ex = LocalExecutor(RunStore())
    with pytest.raises(MethodError, match="unsir cannot forget 'random'"):
        ex.submit(JobRequest(str(shipped), ForgetSpec.random(fraction=0.1).to_dict(), method="unsir"))
    with pytest.raises(MethodError, match="unknown method"):
        ex.submit(JobRequest(str(shipped), CLASS0, kind="compare", methods=("ssd", "nope")))
    with pytest.raises(ValueError, match="option gamma: 'lots' is not a valid float"):
        ex.submit(JobRequest(str(shipped), CLASS0, method="deepclean", config={"gamma": "lots"}))
    with pytest.raises(ValueError, match="unknown job kind"):
        JobRequest(str(shipped), CLASS0, kind="sweep-everything")
    assert ex.store.list() == []


def test_a_bad_config_fails_on_its_record_in_process(shipped):
    store = RunStore()
    req = JobRequest(str(shipped), CLASS0, method="deepclean", config={"gamma": "lots"})
    run_id = store.create("unlearn", method="deepclean", forget=CLASS0)
    from dataclasses import asdict

    assert execute(str(store.home), run_id, asdict(req)) == "failed"
    assert "gamma" in store.get(run_id)["error"]


def test_store_cancel_flag_reaches_the_progress_callback():
    store = RunStore()
    run_id = store.create("unlearn", method="deepclean")
    store.start(run_id)
    report = ActiveRun(store, run_id).progress(lambda *a: None)
    report("fine-tuning", 0.5)
    store.request_cancel(run_id)
    time.sleep(0.3)  # progress is written at most ~4 times a second
    with pytest.raises(Cancelled):
        report("fine-tuning", 0.6)


def test_restart_marks_unfinished_runs_interrupted_and_eta_follows_the_phase():
    store = RunStore()
    gone = Owner(socket.gethostname(), 2**22 + 12345)  # a process that no longer exists
    a, c, d = (store.create("unlearn", method="deepclean") for _ in range(3))
    b = store.create("unlearn", method="deepclean", owner=gone)  # queued by a server that stopped
    store.start(a, worker_pid=gone.pid)  # run by a worker that no longer exists
    store.start(c)
    store.finish(c)
    store.start(d, worker_pid=os.getpid())  # a worker still alive: left to finish
    assert sorted(LocalExecutor(store).recover()) == sorted([a, b])
    assert [store.get(x)["status"] for x in (a, b, c, d)] == ["interrupted", "interrupted", "done", "running"]
    assert "server stopped" in store.get(a)["error"]
    rec = {"progress": 0.25, "phase_started_at": 100.0}
    assert eta_seconds(rec, now=110.0) == pytest.approx(30.0)
    assert eta_seconds({"progress": 0.0, "phase_started_at": 100.0}, now=110.0) is None


def test_an_unusable_home_or_a_full_disk_gets_a_clear_message(shipped, tmp_path, monkeypatch):
    import errno

    from core.checkpoint import CheckpointError, atomic_write_bytes
    from core.store import StoreError

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreError, match="set DEEPCLEAN_HOME to a writable folder"):
        RunStore(blocker / "home")

    def full(_tmp):
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(CheckpointError, match="no space left .* set DEEPCLEAN_HOME"):
        atomic_write_bytes(tmp_path / "x.safetensors", full)
    assert list(tmp_path.glob(".x.safetensors.*")) == []  # the partial file is gone

    import streamlit as st
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("DEEPCLEAN_HOME", str(blocker / "home"))
    st.cache_resource.clear()
    at = AppTest.from_file(str(shipped.parents[1] / "app.py"), default_timeout=60).run()
    assert not at.exception and "DEEPCLEAN_HOME" in at.error[0].value
    st.cache_resource.clear()


# Issue 19: the queue never wedges.

def test_a_run_deleted_while_queued_never_stops_the_queue(shipped):
    """Cancel a queued job and delete it before it starts (what the Runs page allows): later jobs still run."""
    ex = LocalExecutor(RunStore(), workers=1)
    blocker = ex.submit(JobRequest(str(shipped), CLASS0, method="finetune", config=LONG))
    doomed = ex.submit(JobRequest(str(shipped), CLASS0, method="zero_weights"))
    assert ex.cancel(doomed) == "cancelled"
    ex.store.delete(doomed)
    wait_status(ex.store, blocker, ("running",))
    ex.cancel(blocker)  # frees the worker: the dispatcher now meets the deleted record
    after = ex.submit(JobRequest(str(shipped), CLASS0, method="zero_weights"))
    assert ex.wait(after, timeout=60) == "done"


def test_the_dispatcher_survives_a_failing_start_and_is_restarted_when_dead(shipped, monkeypatch):
    ex = LocalExecutor(RunStore(), workers=1)
    real_start = ex._start
    calls = []

    def flaky(run_id, request):
        calls.append(run_id)
        if len(calls) == 1:
            raise RuntimeError("no file descriptors left")
        return real_start(run_id, request)

    monkeypatch.setattr(ex, "_start", flaky)
    first = ex.submit(JobRequest(str(shipped), CLASS0, method="zero_weights"))
    rec = wait_status(ex.store, first, ("failed",), timeout=30)
    assert "no file descriptors left" in rec["error"]
    second = ex.submit(JobRequest(str(shipped), CLASS0, method="zero_weights"))
    assert ex.wait(second, timeout=120) == "done"
    # a dispatcher thread that died anyway (it cannot, short of the interpreter stopping it) is started again
    import threading

    dead = threading.Thread(target=lambda: None)
    dead.start()
    dead.join()
    ex._thread = dead
    third = ex.submit(JobRequest(str(shipped), CLASS0, method="zero_weights"))
    assert ex.wait(third, timeout=120) == "done"


def test_every_run_a_killed_worker_created_ends_with_it(shipped):
    """A worker killed while it retrains gold leaves neither its job nor the gold run it created live."""
    import json

    card = json.loads(shipped.with_suffix(".json").read_text())
    card["recipe"] = {**card["recipe"], "epochs": 3000, "milestones": [2000, 2500]}  # gold takes minutes
    ex = LocalExecutor(RunStore(), workers=1)
    job = ex.submit(JobRequest(str(shipped), CLASS0, method="deepclean", card=card))
    deadline = time.monotonic() + 120
    while not ex.store.list(kind="gold", status="running"):
        assert time.monotonic() < deadline, ex.store.get(job)
        time.sleep(0.1)
    gold = ex.store.list(kind="gold", status="running")[0]["id"]
    os.kill(ex.worker_pid(job), signal.SIGKILL)
    assert "killed by signal 9" in wait_status(ex.store, job, ("failed",), timeout=10)["error"]
    rec = wait_status(ex.store, gold, ("failed",), timeout=10)
    assert "killed by signal 9" in rec["error"] and not (ex.store.artifacts / gold).exists()
    assert ex.store.list(status="running") == [] and ex.store.list(status="queued") == []


def test_a_restarted_server_watches_workers_that_outlived_it():
    """Recovery at start leaves a live worker's run running, and fails it when that worker dies later."""
    import subprocess
    import sys

    store = RunStore()
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])  # a previous server's worker
    try:
        orphan = store.create("unlearn", method="deepclean")
        store.start(orphan, worker_pid=worker.pid)
        ex = LocalExecutor(store)  # the restarted server
        ex.recover()
        time.sleep(1.0)
        assert store.get(orphan)["status"] == "running"
        worker.kill()
        worker.wait()
        rec = wait_status(store, orphan, ("failed",), timeout=10)
        assert "worker" in rec["error"]
    finally:
        worker.kill()


def test_a_full_disk_gets_the_same_message_from_every_layer(tmp_path, monkeypatch):
    """Issue 13 (low): safetensors reports ENOSPC as its own SafetensorError, SQLite as "database or disk is
    full"; both say what to change, like an OSError does."""
    import sqlite3

    import safetensors.torch
    from safetensors import SafetensorError
    from torch import nn

    from core.checkpoint import CheckpointError, save_checkpoint
    from core.store import StoreError

    def full(*args, **kwargs):
        raise SafetensorError('Error while serializing: IoError(Os { code: 28, kind: StorageFull, '
                              'message: "No space left on device" })')

    monkeypatch.setattr(safetensors.torch, "save_file", full)
    monkeypatch.setattr("core.checkpoint.save_file", full)
    with pytest.raises(CheckpointError, match="no space left .* set DEEPCLEAN_HOME"):
        save_checkpoint(nn.Linear(2, 2), {"architecture": "x"}, tmp_path / "m.safetensors")
    assert list(tmp_path.iterdir()) == []

    store = RunStore(tmp_path / "home")
    real = sqlite3.connect

    def tiny(*args, **kwargs):  # a database that may not grow: what a full disk looks like to SQLite
        db = real(*args, **kwargs)
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        db.execute(f"PRAGMA max_page_count = {pages}")
        return db

    monkeypatch.setattr(sqlite3, "connect", tiny)
    monkeypatch.setattr(sqlite3.dbapi2, "connect", tiny)  # what SQLAlchemy's pysqlite dialect calls
    with pytest.raises(StoreError, match="no space left for the run store .* DEEPCLEAN_HOME"):
        for _ in range(200):
            store.create("unlearn", method="deepclean", config={"pad": "x" * 4000})


# Issue 15, item 8: a warm spare worker takes the next job.

def wait_for(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_a_warm_spare_worker_takes_the_next_job_and_another_warms_up(shipped, monkeypatch):
    import core.jobs

    monkeypatch.setattr(core.jobs, "SPARE_RESTART_S", 0.0)
    ex = LocalExecutor(RunStore(), warm=True)
    try:
        wait_for(lambda: ex._spare is not None)
        spare = ex._spare.pid
        run_id = ex.submit(JobRequest(str(shipped), CLASS0, method="zero_weights", gold="none"))
        assert ex.wait(run_id, timeout=300) == "done"
        rec = ex.store.get(run_id)
        assert rec["owner_pid"] == spare  # the job ran in the process warmed before it was submitted
        log = (ex.store.home / "logs" / f"{run_id}.log")
        assert log.is_file()  # the spare's output went to the run's own log
        wait_for(lambda: ex._spare is not None and ex._spare.pid != spare)  # the next one warms up meanwhile
        # a spare that dies is replaced, and a job still runs (cold if need be)
        ex._spare.kill()
        ex._spare.wait()
        wait_for(lambda: ex._spare is not None and ex._spare.poll() is None)
        again = ex.submit(JobRequest(str(shipped), CLASS0, method="zero_weights", gold="none"))
        assert ex.wait(again, timeout=300) == "done"
    finally:
        ex.shutdown(kill=True)
    assert ex._spare is None


def test_a_spare_worker_ends_unused_when_its_server_goes(tmp_path):
    import subprocess
    import sys

    from core.jobs import ROOT

    proc = subprocess.Popen([sys.executable, "-m", "core.jobs", "--spare", str(tmp_path)], stdin=subprocess.PIPE,
                            cwd=ROOT)
    proc.stdin.close()  # what the server's death does to the pipe
    assert proc.wait(timeout=120) == 0
