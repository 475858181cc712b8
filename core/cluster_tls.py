"""TLS for the Dask cluster: a private CA and one certificate for the cluster's members (issue 13, item 10).

`python -m core cluster-certs --dir DIR` (compose's one-shot `certs` service runs it on the `dask-tls`
volume before the scheduler starts) makes, in DIR:

    ca.pem            the cluster's own CA certificate (every member trusts this CA and nothing else)
    ca-key.pem        its private key (mode 0600): only needed to issue certificates; never copy it to workers
    cluster.pem       a certificate signed by that CA, for TLS server and client use
    cluster-key.pem   its private key (mode 0600)

The scheduler, the workers and the app present cluster.pem and accept only peers whose certificate the CA
signed (mutual TLS, `require_encryption`): a client without the files, with another CA's certificate, or
speaking plain `tcp://` is refused at the handshake. Files that exist are kept (nothing is overwritten), so
running it at every start is safe; to renew, remove files and run it again (see the README's *Hardening*).
"""

from __future__ import annotations

import datetime as dt
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

CA, CA_KEY, CERT, KEY = "ca.pem", "ca-key.pem", "cluster.pem", "cluster-key.pem"
CLIENT_FILES = (CA, CERT, KEY)  # what a member (scheduler, worker, app) needs; not the CA's key
DEFAULT_HOSTS = ("scheduler", "localhost", "127.0.0.1")
CA_DAYS = 3650
CERT_DAYS = 825


class CertError(ValueError):
    """The certificate folder is in a state this module will not repair by overwriting (say what to remove)."""


def paths(directory: str | Path) -> dict[str, Path]:
    d = Path(directory)
    return {"ca": d / CA, "ca_key": d / CA_KEY, "cert": d / CERT, "key": d / KEY}


def missing(directory: str | Path) -> list[str]:
    """The files a cluster member needs that `directory` lacks (empty when all are there)."""
    return [name for name in CLIENT_FILES if not (Path(directory) / name).is_file()]


def security(directory: str | Path) -> Any:
    """A `distributed.Security` for a client of the cluster: the cluster's CA, its certificate and key,
    encryption required (no plain tcp:// connection is made)."""
    from distributed.security import Security

    p = paths(directory)
    return Security(tls_ca_file=str(p["ca"]), tls_client_cert=str(p["cert"]), tls_client_key=str(p["key"]),
                    require_encryption=True)


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Write `path` with `mode` only if it does not exist: a whole file or none (a temporary file in the same
    folder, hard-linked into place, so a crash leaves no half file and a concurrent writer never loses its)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.link(tmp, path)  # FileExistsError when it appeared meanwhile: that one is kept
    finally:
        os.unlink(tmp)


def _new_key() -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _load_key(path: Path) -> Any:
    from cryptography.hazmat.primitives import serialization

    return serialization.load_pem_private_key(path.read_bytes(), password=None)


def _load_cert(path: Path) -> Any:
    from cryptography import x509

    return x509.load_pem_x509_certificate(path.read_bytes())


def _name(common_name: str) -> Any:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "DeepClean Studio"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _ca_cert(key: Any, days: int) -> Any:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    now = dt.datetime.now(dt.timezone.utc)
    name = _name("DeepClean Studio Dask cluster CA")
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(ski, critical=False)
            .sign(key, hashes.SHA256()))


def _leaf_cert(key: Any, ca: Any, ca_key: Any, hosts: tuple[str, ...], days: int) -> Any:
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID

    now = dt.datetime.now(dt.timezone.utc)
    sans: list[Any] = []
    for h in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            sans.append(x509.DNSName(h))
    builder = (x509.CertificateBuilder().subject_name(_name("deepclean-dask")).issuer_name(ca.subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5))
               .not_valid_after(min(now + dt.timedelta(days=days), ca.not_valid_after_utc))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                            data_encipherment=False, key_agreement=True, key_cert_sign=False,
                                            crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
               # one certificate for every member: each is a TLS server (listens) and a client (connects)
               .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                     ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def _pem(cert: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return cert.public_bytes(serialization.Encoding.PEM)


def _signed_by(cert: Any, ca: Any) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
        return True
    except Exception:  # noqa: BLE001 - ValueError, TypeError or InvalidSignature: not this CA's
        return False


def _tighten(path: Path, report: list[str]) -> None:
    """A key readable by others is made 0600 again (said in the report); in a read-only folder, a warning."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        try:
            path.chmod(0o600)
            report.append(f"made {path} private (mode {mode:04o} -> 0600)")
        except OSError as e:
            report.append(f"warning: {path} is readable by others (mode {mode:04o}) and could not be changed: {e}")


def ensure_certs(directory: str | Path, hosts: tuple[str, ...] = DEFAULT_HOSTS, days: int = CERT_DAYS,
                 ca_days: int = CA_DAYS) -> list[str]:
    """Make the CA and the cluster certificate in `directory` where they are missing; keep what exists.
    Returns what it did, one line per file. Raises CertError for a folder it cannot complete without
    overwriting (e.g. a certificate without its key, or one another CA signed)."""
    d = Path(directory)
    d.mkdir(mode=0o700, parents=True, exist_ok=True)
    p = paths(d)
    report: list[str] = []

    if p["ca"].is_file():
        ca = _load_cert(p["ca"])
        ca_key = _load_key(p["ca_key"]) if p["ca_key"].is_file() else None
        report.append(f"kept {p['ca']} (exists; valid until {ca.not_valid_after_utc:%Y-%m-%d})")
        if ca_key is not None:
            _tighten(p["ca_key"], report)
            report.append(f"kept {p['ca_key']}")
    else:
        if p["ca_key"].is_file():  # a start that stopped between the key and the certificate
            ca_key = _load_key(p["ca_key"])
            report.append(f"kept {p['ca_key']}")
        else:
            ca_key = _new_key()
            _write_new(p["ca_key"], _key_pem(ca_key), 0o600)
            report.append(f"created {p['ca_key']} (the CA's private key, mode 0600)")
        ca = _ca_cert(ca_key, ca_days)
        _write_new(p["ca"], _pem(ca), 0o644)
        report.append(f"created {p['ca']} (the cluster's CA, valid until {ca.not_valid_after_utc:%Y-%m-%d})")

    if p["cert"].is_file():
        if not p["key"].is_file():
            raise CertError(f"{p['cert']} is there but its key {p['key']} is not: remove {p['cert']} and run this "
                            "again to issue a new one")
        cert = _load_cert(p["cert"])
        if not _signed_by(cert, ca):
            raise CertError(f"{p['cert']} was not signed by the CA in {p['ca']} (the CA was replaced?): remove "
                            f"{p['cert']} and {p['key']} and run this again")
        _tighten(p["key"], report)
        report.append(f"kept {p['cert']} and {p['key']} (exist; valid until {cert.not_valid_after_utc:%Y-%m-%d})")
        return report

    if ca_key is None:
        raise CertError(f"cannot issue {p['cert']}: the CA's key {p['ca_key']} is not here (run this where the CA "
                        f"key is, then copy {', '.join(CLIENT_FILES)})")
    if p["key"].is_file():
        key = _load_key(p["key"])
        _tighten(p["key"], report)
        report.append(f"kept {p['key']}")
    else:
        key = _new_key()
        _write_new(p["key"], _key_pem(key), 0o600)
        report.append(f"created {p['key']} (the cluster's private key, mode 0600)")
    cert = _leaf_cert(key, ca, ca_key, tuple(hosts), days)
    _write_new(p["cert"], _pem(cert), 0o644)
    report.append(f"created {p['cert']} (signed by the CA, for {', '.join(hosts)}; valid until "
                  f"{cert.not_valid_after_utc:%Y-%m-%d})")
    return report
