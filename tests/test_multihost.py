"""Past one host (issue 17): the run store on PostgreSQL, two "hosts" (Dask workers with their own working
directories) sharing only the database and the artifact path, and the app's restart reconciled with the
scheduler by `DaskExecutor.recover`."""

from dataclasses import replace
from pathlib import Path

import pytest

from core.jobs import JobRequest
from core.store import RunStore, StoreError
from test_dask_processes import dask_processes
from test_jobs import CLASS0

distributed = pytest.importorskip("distributed")


def cluster(where: Path, hosts: dict[str, dict[str, str]]):
    """A `dask scheduler` and one `dask worker` per simulated host, each in its own folder with its own
    environment; none inherits this process's database URL or home unless `hosts` gives it."""
    for var in ("DEEPCLEAN_DATABASE_URL", "DEEPCLEAN_HOME"):
        for env in hosts.values():
            env.setdefault(var, "")
    return dask_processes(where, hosts=hosts)


def test_two_hosts_share_only_the_database_and_the_artifact_path(shipped, tmp_path, postgres_server, monkeypatch):
    """The README's multi-host recipe: the app and two workers, each in its own folder, with
    DEEPCLEAN_DATABASE_URL and the shared DEEPCLEAN_HOME; a worker without the database URL is refused."""
    from distributed import Client

    from core.dask_executor import DaskExecutor
    from pg_server import database

    shared = tmp_path / "shared"
    with database(postgres_server) as url:
        monkeypatch.setenv("DEEPCLEAN_DATABASE_URL", url)
        store = RunStore(shared)
        assert not (shared / "runs.sqlite").exists()
        both = {"DEEPCLEAN_HOME": str(shared), "DEEPCLEAN_DATABASE_URL": url}
        with cluster(tmp_path, {"host-a": both, "host-b": both}) as sched, \
                Client(scheduler_file=str(sched), timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
            ex = DaskExecutor(store=store, client=client)
            request = JobRequest(str(shipped), CLASS0, method="zero_weights", gold="none")
            ids = [ex.submit(request), ex.submit(replace(request, config={"gamma": 1.5}))]
            assert [ex.wait(r, timeout=240) for r in ids] == ["done", "done"], [store.get(r)["error"] for r in ids]
            recs = [store.get(r) for r in ids]
            assert len({r["worker_pid"] for r in recs}) == 2, "each host ran one job"
            for r in recs:  # the artifacts are on the shared path, not in either worker's folder
                assert Path(r["artifact_path"]).is_file() and shared in Path(r["artifact_path"]).parents
            assert not any((tmp_path / h / "runs.sqlite").exists() for h in ("host-a", "host-b"))
    # a worker host that mounts the shared path but was not given the database URL refuses the home
    monkeypatch.delenv("DEEPCLEAN_DATABASE_URL")
    with pytest.raises(StoreError, match="DEEPCLEAN_DATABASE_URL"):
        RunStore(shared)


def test_an_app_restart_on_dask_follows_the_scheduler_s_jobs_and_ends_those_it_lost(shipped, tmp_path):
    """`DaskExecutor.recover`: a job the scheduler still holds (it waits for a GPU worker) is followed by the
    restarted app, which can cancel it; a queued job the scheduler no longer knows ends interrupted; a
    command-line run of this process is left alone."""
    from distributed import Client

    from core.dask_executor import CLUSTER_OWNER, DaskExecutor

    store = RunStore()
    with cluster(tmp_path, {"w": {"DEEPCLEAN_HOME": str(store.home)}}) as sched:
        with Client(scheduler_file=str(sched), timeout="30s") as first:
            first.wait_for_workers(1, timeout=60)
            waiting = DaskExecutor(store=store, client=first).submit(
                JobRequest(str(shipped), CLASS0, method="zero_weights", gold="none", device="cuda"))
        # the app stopped; the scheduler restarted earlier and lost this one:
        lost = store.create("unlearn", method="zero_weights", owner=CLUSTER_OWNER)
        with store.run("evaluate") as cli_run:  # a live command-line run in the same home
            with Client(scheduler_file=str(sched), timeout="30s") as second:
                ex = DaskExecutor(store=store, client=second)
                assert ex.recover() == [lost]
                assert store.get(lost)["status"] == "interrupted" and "restarted" in store.get(lost)["error"]
                assert store.get(waiting)["status"] == "queued" and ex._pending(waiting)
                assert store.get(cli_run.id)["status"] == "running"
                assert ex.cancel(waiting) == "cancelled"
                assert ex.wait(waiting, timeout=30) == "cancelled"
