"""The Dask executor on a LocalCluster on loopback: jobs, cancellation, a worker dying mid-job."""

import os
import signal
import time

import pytest

from core.checkpoint import sha256_file
from core.forget import ForgetSpec
from core.executors import default_executor
from core.jobs import JobRequest
from core.store import RunStore
from test_jobs import CLASS0, LONG, wait_status

distributed = pytest.importorskip("distributed")


@pytest.fixture
def cluster():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, resources={"CPU": 1}) as c, Client(c) as client:
        yield c, client


def executor(client):
    from core.dask_executor import DaskExecutor

    return DaskExecutor(store=RunStore(), client=client)


def test_jobs_run_on_the_cluster_and_report_through_the_store(shipped, cluster):
    _, client = cluster
    ex = executor(client)
    a = ex.submit(JobRequest(str(shipped), CLASS0, method="deepclean"))
    b = ex.submit(JobRequest(str(shipped), ForgetSpec.random(fraction=0.1).to_dict(), method="ssd"))
    assert ex.wait(a, timeout=180) == "done" and ex.wait(b, timeout=180) == "done"
    rec = ex.store.get(a)
    assert rec["worker_pid"] != os.getpid() and rec["metrics"]["models"]["unlearned"]["acc_forget"] <= 0.02
    assert rec["phase"] == "evaluation"


def test_cancellation_and_a_dying_worker_end_the_run(shipped, cluster):
    _, client = cluster
    before = sha256_file(shipped)
    ex = executor(client)
    run = ex.submit(JobRequest(str(shipped), CLASS0, method="finetune", config=LONG))
    queued = ex.submit(JobRequest(str(shipped), CLASS0, method="finetune", config=LONG))
    assert ex.cancel(queued) == "cancelled"
    wait_status(ex.store, run, ("running",))
    while ex.store.get(run)["phase"] != "fine-tuning":
        time.sleep(0.1)
    ex.cancel(run)
    assert wait_status(ex.store, run, ("cancelled", "failed", "done"), timeout=60)["status"] == "cancelled"

    victim = ex.submit(JobRequest(str(shipped), CLASS0, method="finetune", config=LONG))
    rec = wait_status(ex.store, victim, ("running",))
    while rec["worker_pid"] is None:
        rec = ex.store.get(victim)
    os.kill(rec["worker_pid"], signal.SIGKILL)
    rec = wait_status(ex.store, victim, ("failed",), timeout=120)
    assert "died" in rec["error"] or "Killed" in rec["error"]
    assert not (ex.store.artifacts / victim).exists()
    assert sha256_file(shipped) == before


def test_gpu_jobs_ask_for_a_gpu_and_the_address_selects_dask(shipped, monkeypatch, cluster):
    from core.dask_executor import DaskExecutor, resources_for

    assert resources_for(JobRequest(str(shipped), CLASS0, device="cuda")) == {"GPU": 1}
    assert resources_for(JobRequest(str(shipped), CLASS0, device="cpu")) is None
    c, _ = cluster
    monkeypatch.setenv("DEEPCLEAN_DASK_ADDRESS", c.scheduler_address)
    ex = default_executor(RunStore())
    try:
        assert isinstance(ex, DaskExecutor)
    finally:
        ex.shutdown()


def test_devices_offered_are_the_workers_not_the_apps(monkeypatch):
    """The app container has no GPU; a worker with the GPU resource makes GPU jobs possible (issue 17.3)."""
    import torch
    from distributed import Client, LocalCluster

    from core.dask_executor import DaskExecutor, describe_devices
    from core.executors import offered_devices

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # the app's own process: no GPU
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None,
                      resources={"GPU": 1}) as c, Client(c) as client:
        gpu, label = offered_devices(DaskExecutor(store=RunStore(), client=client))
    assert gpu and label.startswith("1 GPU worker")
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as c, \
            Client(c) as client:
        assert offered_devices(DaskExecutor(store=RunStore(), client=client)) == \
            (False, "CPU (1 Dask worker, none with a GPU)")
    two = {"tcp://a:1": {"resources": {"GPU": 1}}, "tcp://b:1": {"resources": {"GPU": 1.0}}, "tcp://c:1": {}}
    names = {"tcp://a:1": ["NVIDIA H100 80GB HBM3"], "tcp://b:1": ["NVIDIA H100 80GB HBM3"]}
    assert describe_devices(two, names) == (True, "2 GPU workers: NVIDIA H100 80GB HBM3 ×2")
    assert describe_devices({}, {}) == (False, "no Dask worker connected yet")


def test_a_worker_without_the_shared_home_fails_the_job_with_that_reason(tmp_path, cluster):
    from core.dask_executor import execute_on_worker

    _, client = cluster
    fut = client.submit(execute_on_worker, str(tmp_path / "not-mounted"), "r1", {}, pure=False)
    with pytest.raises(RuntimeError, match="does not see the shared DEEPCLEAN_HOME"):
        fut.result(timeout=60)


def test_an_unreachable_scheduler_is_a_clear_message_and_the_next_call_tries_again(monkeypatch):
    import socket

    from core.dask_executor import ClusterUnreachable
    from core.executors import server_executor

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("DEEPCLEAN_DASK_ADDRESS", f"tcp://127.0.0.1:{port}")
    monkeypatch.setenv("DEEPCLEAN_DASK_TIMEOUT", "1s")
    for _ in range(2):  # not cached as a failure: every call asks again
        with pytest.raises(ClusterUnreachable, match=f"scheduler at tcp://127.0.0.1:{port} did not answer"):
            server_executor()


def test_a_submitted_job_survives_the_app_client_going_away(shipped):
    """An app restart closes its Dask client; the scheduler still runs the job (fire_and_forget)."""
    from distributed import Client, LocalCluster

    from core.dask_executor import DaskExecutor

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as c:
        app = Client(c)
        store = RunStore()
        run = DaskExecutor(store=store, client=app).submit(JobRequest(str(shipped), CLASS0, method="ssd"))
        app.close()  # the app goes away right after submitting
        assert wait_status(store, run, ("done", "failed", "cancelled"), timeout=90)["status"] == "done"


def test_a_job_with_no_worker_connected_says_so_while_it_waits(shipped):
    from distributed import Client, LocalCluster

    from core.dask_executor import DaskExecutor

    with LocalCluster(n_workers=0, processes=False, dashboard_address=None) as c, Client(c) as client:
        ex = DaskExecutor(store=RunStore(), client=client)
        run = ex.submit(JobRequest(str(shipped), CLASS0, method="ssd"))
        rec = ex.store.get(run)
        assert rec["status"] == "queued" and "no Dask worker is connected" in rec["message"]
        gpu = ex.submit(JobRequest(str(shipped), CLASS0, method="ssd", device="cuda"))
        assert "no Dask worker is connected" in ex.store.get(gpu)["message"]
        ex.cancel(run), ex.cancel(gpu)
