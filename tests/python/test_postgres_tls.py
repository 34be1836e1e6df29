"""TLS to the shared PostgreSQL registry: `?sslmode=require|verify-ca|verify-full&sslrootcert=FILE`
in `--registry-url`, as libpq reads them.

scripts/postgres.sh starts a server with a certificate this test makes with the openssl CLI (a
throw-away CA, a server certificate it signed) and a pg_hba that refuses unencrypted TCP, so a
connection that succeeds was encrypted. Checked against that server:
- no sslmode: refused by the server (the reference for "not encrypted");
- require: connects without checking the certificate; verify-full with the CA: connects;
- verify-full with another CA: refused, naming TLS; a certificate for another host name: refused
  by verify-full, accepted by verify-ca (which checks only the chain);
- a malformed sslmode or a missing sslrootcert file: exit 2 before connecting.
"""
from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from conftest import berth_path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "postgres.sh"

pytestmark = pytest.mark.skipif(not glob.glob("/usr/lib/postgresql/*/bin/initdb") or not shutil.which("openssl"),
                                reason="needs PostgreSQL's server binaries and the openssl CLI (scripts/setup.sh installs both)")


def openssl(*args: str, cwd: Path) -> None:
    p = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr


def make_ca(d: Path, name: str) -> None:
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}",
            "-keyout", f"{name}.key", "-out", f"{name}.pem", cwd=d)


def make_server_cert(d: Path, ca: str, name: str, san: str) -> None:
    """A certificate for `san` (e.g. IP:127.0.0.1) signed by `ca`."""
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=d)
    (d / f"{name}.ext").write_text(f"subjectAltName={san}\n")
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key", "-CAcreateserial", "-days", "2",
            "-extfile", f"{name}.ext", "-out", f"{name}.pem", cwd=d)


class TLSPostgres:
    def __init__(self, directory: Path, cert: Path, key: Path):
        self.env = {**os.environ, "BERTH_PG_DIR": str(directory), "BERTH_PG_SSL_CERT": str(cert), "BERTH_PG_SSL_KEY": str(key)}

    def run(self, action: str, **env: str) -> str:
        p = subprocess.run([str(SCRIPT), action], capture_output=True, text=True, timeout=120, env={**self.env, **env})
        assert p.returncode == 0, f"scripts/postgres.sh {action} -> {p.returncode}\n{p.stderr}"
        return p.stdout.strip()


def migrate(url: str, data: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(berth_path()), "registry", "migrate", "--json", "--data-dir", str(data), "--registry-url", url],
                          capture_output=True, text=True, timeout=60)


def test_sslmode_require_and_verify_full_against_a_self_signed_server(tmp_path):
    # Under /tmp directly: as root the server runs as `postgres`, which cannot enter pytest's 0700 tree.
    certs = Path(tempfile.mkdtemp(prefix="berth-pg-tls-certs-"))
    pg_dir = Path(tempfile.mkdtemp(prefix="berth-pg-tls-"))
    make_ca(certs, "ca")
    make_ca(certs, "other")
    make_server_cert(certs, "ca", "server", "IP:127.0.0.1,DNS:localhost")
    make_server_cert(certs, "ca", "elsewhere", "DNS:db.example.invalid")
    server = TLSPostgres(pg_dir, certs / "server.pem", certs / "server.key")
    plain = server.run("start")  # postgres://berth@127.0.0.1:PORT/berth
    data = tmp_path / "data"
    try:
        ca, other = certs / "ca.pem", certs / "other.pem"
        # The reference: the server refuses a connection without TLS.
        p = migrate(plain, data)
        assert p.returncode != 0 and "no encryption" in p.stderr, p.stderr

        p = migrate(plain + "?sslmode=require", data)
        assert p.returncode == 0, p.stderr
        assert "v5: monitoring state shared by replicas" in json.loads(p.stdout)["migrations"]

        p = migrate(f"{plain}?sslmode=verify-full&sslrootcert={ca}", data)
        assert p.returncode == 0, p.stderr

        p = migrate(f"{plain}?sslmode=verify-full&sslrootcert={other}", data)
        assert p.returncode != 0 and "TLS" in p.stderr, p.stderr

        # Bad parameters never reach the network.
        p = migrate(plain + "?sslmode=sometimes", data)
        assert p.returncode == 2 and "sslmode must be one of" in p.stderr, p.stderr
        p = migrate(f"{plain}?sslmode=verify-full&sslrootcert={certs / 'missing.pem'}", data)
        assert p.returncode == 2 and "not a readable file" in p.stderr, p.stderr

        # A trusted certificate for another name: verify-full refuses, verify-ca accepts.
        server.run("stop")
        server.run("start", BERTH_PG_SSL_CERT=str(certs / "elsewhere.pem"), BERTH_PG_SSL_KEY=str(certs / "elsewhere.key"))
        p = migrate(f"{plain}?sslmode=verify-full&sslrootcert={ca}", data)
        assert p.returncode != 0 and "TLS" in p.stderr, p.stderr
        p = migrate(f"{plain}?sslmode=verify-ca&sslrootcert={ca}", data)
        assert p.returncode == 0, p.stderr
    finally:
        server.run("clean")
        shutil.rmtree(certs, ignore_errors=True)
