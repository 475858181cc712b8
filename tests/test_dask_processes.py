"""Dask as the image starts it: `dask scheduler` and `dask worker` console scripts in their own processes,
from a directory that is not the repository, with the image's PYTHONPATH (issue 17, blocker 2)."""

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.jobs import JobRequest
from core.store import RunStore
from test_deploy import ROOT, env as image_env
from test_jobs import CLASS0

distributed = pytest.importorskip("distributed")
DASK = Path(sys.executable).with_name("dask")


def image_pythonpath() -> str:
    """The Dockerfile's PYTHONPATH with the image's /app mapped onto this checkout (empty when unset)."""
    value = image_env().get("PYTHONPATH", "")
    return os.pathsep.join(str(ROOT) if p == "/app" else p for p in value.split(":") if p)


@contextlib.contextmanager
def dask_processes(where: Path, scheduler_args: tuple[str, ...] = (), worker_args: tuple[str, ...] = (),
                   hosts: dict[str, dict[str, str]] | None = None):
    """A scheduler and workers, started as the compose file starts them, in `where`; yields the scheduler
    file once it exists; stopped after. Extra flags (e.g. TLS) go to the scheduler and the workers. `hosts`
    simulates one host per worker: each starts in its own folder `where/NAME` with `hosts[NAME]` added to its
    environment (default: one worker, w0, in `where`, with this process's environment)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(PYTHONPATH=image_pythonpath(), DASK_DISTRIBUTED__WORKER__DAEMON="False")
    sched_file = where / "scheduler.json"
    started = []
    try:
        started.append(subprocess.Popen([str(DASK), "scheduler", "--host", "127.0.0.1", "--port", "0",
                                         "--no-dashboard", "--scheduler-file", str(sched_file), *scheduler_args],
                                        cwd=where, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for name, extra in (hosts or {"w0": None}).items():
            cwd = where if extra is None else where / name
            cwd.mkdir(exist_ok=True)
            started.append(subprocess.Popen(
                [str(DASK), "worker", "--scheduler-file", str(sched_file), "--nworkers", "1", "--nthreads", "1",
                 "--no-dashboard", "--host", "127.0.0.1", "--name", name, *worker_args],
                cwd=cwd, env={**env, **(extra or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for _ in range(300):
            if sched_file.exists():
                break
            time.sleep(0.1)
        yield sched_file
    finally:
        for p in reversed(started):
            p.terminate()
        for p in reversed(started):
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()


@pytest.fixture
def processes(tmp_path):
    """A scheduler and one worker, started as the compose file starts them, in tmp_path; stopped after."""
    with dask_processes(tmp_path) as sched_file:
        yield sched_file


def test_a_job_runs_on_workers_started_by_the_dask_console_script(shipped, processes):
    from distributed import Client

    from core.dask_executor import DaskExecutor

    with Client(scheduler_file=str(processes), timeout="30s") as client:
        client.wait_for_workers(1, timeout=30)
        ex = DaskExecutor(store=RunStore(), client=client)
        run = ex.submit(JobRequest(str(shipped), CLASS0, method="ssd"))
        status = ex.wait(run, timeout=50)
        rec = ex.store.get(run)
        assert status == "done", rec.get("error")
        assert rec["worker_pid"] not in (None, os.getpid())
