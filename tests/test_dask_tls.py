"""The Dask cluster with mutual TLS (issue 13, item 10): certificates made by `python -m core cluster-certs`,
`dask scheduler` and `dask worker` started as compose starts them with the TLS flags, a job through a tls://
address, and every client without the cluster's certificates refused with a message naming the fix."""

import os
import socket
import ssl
import stat
import time

import pytest

from core import cluster_tls
from core.cli import main
from core.executors import default_executor
from core.jobs import JobRequest
from core.store import RunStore
from test_dask_processes import dask_processes
from test_deploy import tls_flags
from test_jobs import CLASS0

distributed = pytest.importorskip("distributed")


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_cluster_certs_are_made_once_with_private_keys(tmp_path, capsys):
    certs = tmp_path / "tls"
    assert main(["cluster-certs", "--dir", str(certs)]) == 0
    out = capsys.readouterr().out
    assert out.count("created") == 4 and "mode 0600" in out
    files = {p.name: p.read_bytes() for p in certs.iterdir()}
    assert sorted(files) == ["ca-key.pem", "ca.pem", "cluster-key.pem", "cluster.pem"], "no temporary file left"
    assert mode(certs / "ca-key.pem") == 0o600 and mode(certs / "cluster-key.pem") == 0o600
    assert mode(certs) == 0o700

    # idempotent: a second start keeps every file as it is and says so
    assert main(["cluster-certs", "--dir", str(certs)]) == 0
    out = capsys.readouterr().out
    assert "created" not in out and "kept" in out
    assert {p.name: p.read_bytes() for p in certs.iterdir()} == files

    # the cluster certificate is signed by the CA and is for TLS servers and clients alike
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID

    ca = x509.load_pem_x509_certificate(files["ca.pem"])
    leaf = x509.load_pem_x509_certificate(files["cluster.pem"])
    leaf.verify_directly_issued_by(ca)
    usages = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH} <= set(usages)
    assert "scheduler" in leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName)

    # renewal: remove the cluster's pair, the same CA issues a new one; a loosened key is made private again
    (certs / "cluster.pem").unlink()
    (certs / "cluster-key.pem").unlink()
    (certs / "ca-key.pem").chmod(0o644)
    assert main(["cluster-certs", "--dir", str(certs), "--host", "gpu-vm.internal"]) == 0
    out = capsys.readouterr().out
    assert "created" in out and "0644 -> 0600" in out and mode(certs / "ca-key.pem") == 0o600
    assert (certs / "ca.pem").read_bytes() == files["ca.pem"]
    assert (certs / "cluster.pem").read_bytes() != files["cluster.pem"]

    # another CA's certificate is not replaced: the command says what to remove (exit 2, nothing changed)
    other = tmp_path / "other"
    cluster_tls.ensure_certs(other)
    (certs / "cluster.pem").write_bytes((other / "cluster.pem").read_bytes())
    assert main(["cluster-certs", "--dir", str(certs)]) == 2
    assert "not signed by the CA" in capsys.readouterr().err
    assert (certs / "cluster.pem").read_bytes() == (other / "cluster.pem").read_bytes()


def test_settings_that_cannot_work_are_named_before_connecting(tmp_path, monkeypatch):
    from core.dask_executor import ClusterUnreachable, DaskExecutor

    monkeypatch.delenv("DEEPCLEAN_DASK_TLS_DIR", raising=False)
    with pytest.raises(ClusterUnreachable, match="no certificates.*DEEPCLEAN_DASK_TLS_DIR"):
        DaskExecutor("tls://127.0.0.1:1", RunStore())
    monkeypatch.setenv("DEEPCLEAN_DASK_TLS_DIR", str(tmp_path / "empty"))
    with pytest.raises(ClusterUnreachable, match="lacks ca.pem, cluster.pem, cluster-key.pem.*cluster-certs"):
        DaskExecutor("tls://127.0.0.1:1", RunStore())
    cluster_tls.ensure_certs(tmp_path / "tls")
    monkeypatch.setenv("DEEPCLEAN_DASK_TLS_DIR", str(tmp_path / "tls"))
    with pytest.raises(ClusterUnreachable, match="not a tls:// address.*use tls://127.0.0.1:1"):
        DaskExecutor("tcp://127.0.0.1:1", RunStore())


def tls_answer(address: str, certs, own_certificate: bool) -> str:
    """A raw TLS client that trusts the cluster's CA, with or without the cluster's certificate of its own:
    "answered" when the scheduler sends its greeting, "refused" when it ends the connection (a missing
    client certificate is reported by TLS 1.3 after the handshake: an alert or a bare close)."""
    host, port = address.split("://", 1)[1].rsplit(":", 1)
    ctx = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    ctx.check_hostname = False
    if own_certificate:
        ctx.load_cert_chain(certs / "cluster.pem", certs / "cluster-key.pem")
    try:
        with socket.create_connection((host, int(port)), timeout=10) as raw, \
                ctx.wrap_socket(raw, server_hostname=host) as tls:
            return "answered" if tls.recv(1) else "refused"
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
        return "refused"


def test_a_job_runs_over_mutual_tls_and_clients_without_the_certificates_are_refused(shipped, tmp_path,
                                                                                   monkeypatch):
    from core.dask_executor import ClusterUnreachable, DaskExecutor, speaks_tls

    certs = tmp_path / "tls"
    cluster_tls.ensure_certs(certs)
    stranger = tmp_path / "stranger"  # a CA and certificate of its own, not the cluster's
    cluster_tls.ensure_certs(stranger)
    monkeypatch.setenv("DEEPCLEAN_DASK_TIMEOUT", "5s")
    # the TLS flags compose gives the scheduler and the worker, its /tls mapped onto `certs`
    with dask_processes(tmp_path, ("--protocol", "tls", *tls_flags("scheduler", certs)),
                        tuple(tls_flags("worker-0", certs))) as sched_file:
        for _ in range(100):
            if sched_file.stat().st_size:
                break
            time.sleep(0.1)
        import json

        address = json.loads(sched_file.read_text())["address"]
        assert address.startswith("tls://127.0.0.1:")
        plain = "tcp://" + address.split("://", 1)[1]
        assert speaks_tls(plain)

        # a plain tcp:// client: refused at the handshake, and the message says TLS and certificates
        monkeypatch.delenv("DEEPCLEAN_DASK_TLS_DIR", raising=False)
        t0 = time.monotonic()
        with pytest.raises(ClusterUnreachable, match=r"requires TLS with the cluster's certificates and refused this plain tcp://") as e:
            DaskExecutor(plain, RunStore())
        assert f"DEEPCLEAN_DASK_ADDRESS={address}" in str(e.value) and time.monotonic() - t0 < 15
        # TLS with a certificate another CA signed: refused
        monkeypatch.setenv("DEEPCLEAN_DASK_TLS_DIR", str(stranger))
        with pytest.raises(ClusterUnreachable, match=r"refused this app's TLS connection.*same CA"):
            DaskExecutor(address, RunStore())
        # TLS with the cluster's CA but no certificate of one's own: the scheduler ends the connection
        assert [tls_answer(address, certs, own_certificate=False) for _ in range(3)] == ["refused"] * 3
        assert tls_answer(address, certs, own_certificate=True) == "answered"

        # the app's way in: DEEPCLEAN_DASK_ADDRESS=tls://... and the certificate folder
        monkeypatch.setenv("DEEPCLEAN_DASK_TLS_DIR", str(certs))
        monkeypatch.setenv("DEEPCLEAN_DASK_ADDRESS", address)
        ex = default_executor(RunStore())
        try:
            assert isinstance(ex, DaskExecutor) and ex.client.scheduler.address == address
            ex.client.wait_for_workers(1, timeout=30)
            workers = ex.client.scheduler_info(n_workers=-1)["workers"]
            assert workers and all(a.startswith("tls://") for a in workers), "workers listen on TLS too"
            run = ex.submit(JobRequest(str(shipped), CLASS0, method="ssd"))
            status = ex.wait(run, timeout=60)
            rec = ex.store.get(run)
            assert status == "done", rec.get("error")
            assert rec["worker_pid"] not in (None, os.getpid())
        finally:
            ex.shutdown()


def test_the_dashboard_names_the_missing_certificates_and_keeps_serving(open_app, tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPCLEAN_DASK_ADDRESS", "tls://127.0.0.1:1")
    monkeypatch.setenv("DEEPCLEAN_DASK_TLS_DIR", str(tmp_path / "no-certs"))
    at = open_app()
    errors = " ".join(e.value for e in at.error)
    assert "job cluster is not reachable" in errors and "uses TLS" in errors
    assert "lacks ca.pem, cluster.pem, cluster-key.pem" in errors and "cluster-certs" in errors
