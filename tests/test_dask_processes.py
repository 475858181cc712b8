"""Issue 17, blocker 2: Dask's scheduler and worker started as the compose file starts them (`dask scheduler`,
`dask worker`, as separate processes from another directory, with the image's environment) run a job."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.jobs import JobRequest
from core.store import RunStore
from test_deploy import env_of, instructions
from test_jobs import CLASS0

pytest.importorskip("distributed")
ROOT = Path(__file__).resolve().parents[1]
DASK = str(Path(sys.executable).with_name("dask"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def image_env() -> dict[str, str]:
    """This machine's environment with the image's PYTHONPATH, its WORKDIR mapped to the repository."""
    ins = instructions()
    workdir = [arg for op, arg in ins if op == "WORKDIR"][-1]
    image_path = env_of(ins).get("PYTHONPATH", "")
    mapped = [str(ROOT) if p == workdir else p for p in image_path.split(":") if p]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if mapped:
        env["PYTHONPATH"] = os.pathsep.join(mapped)
    return env


def test_a_job_runs_on_a_scheduler_and_worker_started_as_separate_processes(shipped, tmp_path):
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = image_env()
    procs = [subprocess.Popen([DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--dashboard-address", ":0"], cwd=tmp_path, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        time.sleep(3)
        procs.append(subprocess.Popen([DASK, "worker", address, "--nworkers", "1", "--nthreads", "1",
                                       "--no-dashboard", "--name", "w0"], cwd=tmp_path, env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        from core.dask_executor import DaskExecutor

        ex = DaskExecutor(address, RunStore())
        deadline = time.monotonic() + 60
        while not ex.client.scheduler_info().get("workers") and time.monotonic() < deadline:
            time.sleep(0.5)
        run_id = ex.submit(JobRequest(str(shipped), CLASS0, method="zero_weights", gold="none"))
        status = ex.wait(run_id, timeout=300)
        assert status == "done", ex.store.get(run_id)["error"]
        ex.client.close()
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
