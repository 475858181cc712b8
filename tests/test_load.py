"""Load: 8 sessions (AppTest) each launch a job against one worker and 4 threads submit at once; then the
short version of bench/load.py in real browsers, with a worker and the server killed mid-queue."""

import sqlite3
import threading
from pathlib import Path

import streamlit as st
from streamlit.testing.v1 import AppTest

from core.forget import ForgetSpec
from core.jobs import JobRequest
from core.store import RunStore

APP = str(Path(__file__).resolve().parents[1] / "app.py")
SESSIONS = 8
THREADS = 4


def session(k: int) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["forget"] = {"kind": "classes", "classes": [0]}  # one gold model for all: jobs stay short
    at.run()
    at.switch_page("pages/unlearn.py").run()
    at.selectbox[0].set_value("zero_weights").run()
    return at


def test_eight_sessions_and_four_threads_launch_jobs_and_every_one_completes_in_order(shipped):
    st.cache_resource.clear()
    from pages import common

    # AppTest drives one script run at a time, so the 8 live sessions click Launch one after another;
    # the executor and store see 8 sessions' jobs queued together.
    sessions = [session(k) for k in range(SESSIONS)]
    ids = []
    for at in sessions:
        [b for b in at.button if b.label == "Launch"][0].click().run()
        assert not at.exception
        ids.append(at.session_state["last_job"])
    # and more submissions truly at the same moment, through the same executor (one worker)
    ex = common.executor()
    barrier, lock, more = threading.Barrier(THREADS), threading.Lock(), []

    def submit(k: int) -> None:
        barrier.wait()
        rid = ex.submit(JobRequest(str(shipped), ForgetSpec.of_classes([0]).to_dict(), method="zero_weights"))
        with lock:
            more.append(rid)

    threads = [threading.Thread(target=submit, args=(k,)) for k in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    ids += more
    assert len(set(ids)) == SESSIONS + THREADS
    assert all(ex.wait(rid, timeout=600) == "done" for rid in ids)
    runs = RunStore().list(kind="unlearn")
    assert sorted(r["id"] for r in runs) == sorted(ids), "no run lost or duplicated"
    by_created = sorted(runs, key=lambda r: r["created_at"])
    assert [r["id"] for r in by_created] == [r["id"] for r in sorted(runs, key=lambda r: r["started_at"])]
    for a, b in zip(by_created, by_created[1:]):
        assert a["finished_at"] <= b["started_at"], "one worker: queue order holds"
    assert not any("locked" in (r["error"] or "") for r in RunStore().list())
    with sqlite3.connect(RunStore().home / "runs.sqlite") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    sessions[0].run()  # a session still answers after the load
    assert not sessions[0].exception
    st.cache_resource.clear()


def test_browsers_see_their_runs_finish_while_a_worker_and_the_server_are_killed():
    """bench/load.py, short: 2 Chromium sessions launch at once, a 3-value sweep runs while one switches pages,
    a worker and then the server get kill -9 (the server is started again)."""
    import asyncio
    import importlib.util
    import os

    import pytest

    if not Path("/usr/bin/chromium").is_file() or importlib.util.find_spec("playwright") is None:
        if os.environ.get("DEEPCLEAN_REQUIRE_BROWSER") == "1":
            raise RuntimeError("/usr/bin/chromium and playwright are needed; `make test` installs them")
        pytest.skip("needs Chromium and playwright (`make test` installs them)")
    spec = importlib.util.spec_from_file_location("bench_load", Path(__file__).resolve().parents[1] / "bench" / "load.py")
    load = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(load)
    r = asyncio.run(load.scenario(sessions=2, sweep=3, switchers=1, kill=True, timeout=240))
    print(load.markdown(r))
    assert all(s["status"] == "done" and s["lag_s"] is not None and s["lag_s"] <= 60 for s in r["per_session"]), r
    store = r["store"]
    assert (store["lost"], store["duplicated"], store["stuck"]) == (0, 0, 0), store
    assert r["killed_worker_run"] and store["failed"] >= 1  # the killed worker's job, with its reason
    assert store["failed_without_reason"] == 0 and store["interrupted_without_reason"] == 0
    assert r["switch_under_load_s"]["n"] >= 1 and r["server_restart_s"] < 60
