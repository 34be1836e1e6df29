"""Signed artifacts and TLS (issue 14, docs/security.md), against real references: OpenSSL verifies
Berth's Ed25519 signatures and makes keys Berth reads; Python's ssl module and tritonclient.grpc
are the TLS clients.

Checked: push/load refuse unsigned, wrongly signed and tampered (one byte) versions under
--require-signed while the previous version serves on; `berth registry verify`; HTTPS and gRPC over
TLS; SIGHUP reloads a renewed certificate and keeps the old one when the new files are bad; mutual
TLS refuses a client without a certificate from the CA.
"""
from __future__ import annotations

import base64
import hashlib
import json
import signal
import socket
import ssl
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import berth_path
from test_registry_cli import NAME, model_bytes
from test_registry_server import Server, answer, infer_body

X = np.ones((1, 4), np.float32)


def berth(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    p = subprocess.run([str(berth_path()), *args], capture_output=True, text=True, timeout=120)
    if check:
        assert p.returncode == 0, (args, p.stdout, p.stderr)
    return p


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def artifact_path(data: Path, sha: str) -> Path:
    return data / "artifacts" / "sha256" / sha[:2] / f"{sha}.onnx"


@pytest.fixture
def signed_world(tmp_path):
    data = tmp_path / "data"
    berth("registry", "keygen", str(tmp_path / "release"))
    for k in (1, 2, 3):
        (tmp_path / f"m{k}.onnx").write_bytes(model_bytes(k))
    berth("registry", "push", NAME, str(tmp_path / "m1.onnx"), "--sign-key", str(tmp_path / "release.key"), "--data-dir", str(data))
    berth("registry", "promote", NAME, "1", "--data-dir", str(data))
    return tmp_path, data


def test_openssl_verifies_berths_signature_and_berth_reads_openssls_keys(signed_world):
    tmp, data = signed_world
    record = json.loads(berth("registry", "show", f"{NAME}@1", "--data-dir", str(data), "--json").stdout)
    key_id, sig = record["artifact_signature"]["key_id"], record["artifact_signature"]["signature"]
    assert len(key_id) == 16
    (tmp / "digest.bin").write_bytes(bytes.fromhex(hashlib.sha256((tmp / "m1.onnx").read_bytes()).hexdigest()))
    (tmp / "sig.bin").write_bytes(base64.b64decode(sig))
    # The reference: OpenSSL's Ed25519 verification of the raw digest with Berth's public key file.
    openssl("pkeyutl", "-verify", "-pubin", "-inkey", str(tmp / "release.pub"), "-rawin", "-in", str(tmp / "digest.bin"),
            "-sigfile", str(tmp / "sig.bin"))
    (tmp / "sig.bin").write_bytes(bytes([base64.b64decode(sig)[0] ^ 1]) + base64.b64decode(sig)[1:])
    with pytest.raises(subprocess.CalledProcessError):
        openssl("pkeyutl", "-verify", "-pubin", "-inkey", str(tmp / "release.pub"), "-rawin", "-in", str(tmp / "digest.bin"),
                "-sigfile", str(tmp / "sig.bin"))
    # And the other way: keys OpenSSL made sign and verify in Berth.
    openssl("genpkey", "-algorithm", "ed25519", "-out", str(tmp / "ossl.key"))
    openssl("pkey", "-in", str(tmp / "ossl.key"), "-pubout", "-out", str(tmp / "ossl.pub"))
    berth("registry", "sign", f"{NAME}@1", "--key", str(tmp / "ossl.key"), "--data-dir", str(data))
    berth("registry", "verify", f"{NAME}@1", "--public-key", str(tmp / "ossl.pub"), "--data-dir", str(data))
    bad = berth("registry", "verify", f"{NAME}@1", "--public-key", str(tmp / "release.pub"), "--data-dir", str(data), check=False)
    assert bad.returncode == 1 and "does not trust" in bad.stderr, bad.stderr
    history = berth("registry", "history", NAME, "--data-dir", str(data)).stdout
    assert "sign" in history


def test_require_signed_refuses_unsigned_wrong_and_tampered_while_v1_serves(signed_world):
    tmp, data = signed_world
    berth("registry", "keygen", str(tmp / "stranger"))
    server = Server(data, tmp / "server.log", "--grpc-port", "0", "--require-signed", "--trusted-key", str(tmp / "release.pub"))
    try:
        def serving_version():
            status, _, raw = server.request("POST", f"/v2/models/{NAME}/infer", infer_body(X), headers={"Content-Type": "application/json"})
            assert status == 200, raw
            return answer(raw)[0]
        assert serving_version() == 1
        hdrs = {"Content-Type": "application/octet-stream"}
        # Unsigned push through the API: refused, nothing recorded.
        status, _, raw = server.request("POST", f"/api/v1/models/{NAME}/versions", model_bytes(2), headers=hdrs)
        assert status == 403 and "not signed" in json.loads(raw)["error"], raw
        # Signed by a key the server does not trust, or a trusted key's signature of another file.
        sha2 = hashlib.sha256(model_bytes(2)).hexdigest()
        (tmp / "m2.onnx").write_bytes(model_bytes(2))
        stranger_sig = json.loads(berth("registry", "push", "scratch", str(tmp / "m2.onnx"), "--sign-key", str(tmp / "stranger.key"),
                                        "--data-dir", str(tmp / "scratch"), "--json").stdout)["artifact_signature"]
        other_sig = json.loads(berth("registry", "show", f"{NAME}@1", "--data-dir", str(data), "--json").stdout)["artifact_signature"]
        for sig, word in [(stranger_sig, "does not trust"), (other_sig, "does not match")]:
            q = f"?signature={sig['key_id']}:{sig['signature'].replace('+', '%2B').replace('/', '%2F').replace('=', '%3D')}"
            status, _, raw = server.request("POST", f"/api/v1/models/{NAME}/versions{q}", model_bytes(2), headers=hdrs)
            assert status == 403 and word in json.loads(raw)["error"], raw
        assert [v["version"] for v in json.loads(berth("registry", "show", NAME, "--data-dir", str(data), "--json").stdout)["versions"]] == [1]
        # A signed v2 (CLI), then one byte of its stored file flipped: promotion fails at load, v1 serves on.
        berth("registry", "push", NAME, str(tmp / "m2.onnx"), "--sign-key", str(tmp / "release.key"), "--data-dir", str(data))
        path = artifact_path(data, sha2)
        raw_bytes = bytearray(path.read_bytes())
        raw_bytes[len(raw_bytes) // 2] ^= 0xFF
        path.chmod(0o644)
        path.write_bytes(bytes(raw_bytes))
        status, _, raw = server.request("POST", f"/api/v1/models/{NAME}/promote", {"version": 2})
        assert status == 400 and "corrupt" in json.loads(raw)["error"], raw
        assert serving_version() == 1
        bad = berth("registry", "verify", f"{NAME}@2", "--public-key", str(tmp / "release.pub"), "--data-dir", str(data), check=False)
        assert bad.returncode == 1, bad.stderr
        # An unsigned v3 pushed by the CLI (no trust there) is refused at load.
        berth("registry", "push", NAME, str(tmp / "m3.onnx"), "--data-dir", str(data))
        status, _, raw = server.request("POST", f"/api/v1/models/{NAME}/promote", {"version": 3})
        assert status == 400 and "not signed" in json.loads(raw)["error"], raw
        assert serving_version() == 1
        # Signed afterwards: now it loads.
        berth("registry", "sign", f"{NAME}@3", "--key", str(tmp / "release.key"), "--data-dir", str(data))
        status, _, raw = server.request("POST", f"/api/v1/models/{NAME}/promote", {"version": 3})
        assert status == 200, raw
        assert serving_version() == 3
    finally:
        server.stop()


def make_cert(tmp: Path, name: str, ca: tuple[Path, Path] | None = None, cn: str = "127.0.0.1") -> tuple[Path, Path]:
    key, cert = tmp / f"{name}.key", tmp / f"{name}.pem"
    if ca is None:
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                "-subj", f"/CN={cn}", "-addext", f"subjectAltName=IP:{cn}", "-keyout", str(key), "-out", str(cert))
    else:
        csr = tmp / f"{name}.csr"
        openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", f"/CN={name}",
                "-keyout", str(key), "-out", str(csr))
        openssl("x509", "-req", "-in", str(csr), "-CA", str(ca[1]), "-CAkey", str(ca[0]), "-CAcreateserial", "-days", "2",
                "-out", str(cert))
    return key, cert


def peer_cert(port: int, context: ssl.SSLContext) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            return s.getpeercert(binary_form=True)


def test_tls_serves_https_and_grpc_and_reloads_on_sighup(tmp_path):
    key, cert = make_cert(tmp_path, "server")
    ctx = ssl.create_default_context(cafile=str(cert))
    grpc_port = socket.socket()
    grpc_port.bind(("127.0.0.1", 0))
    gport = grpc_port.getsockname()[1]
    grpc_port.close()
    server = Server(tmp_path / "data", tmp_path / "server.log", "--grpc-port", str(gport), "--tls-cert", str(cert),
                    "--tls-key", str(key), ssl_context=ctx)
    try:
        assert server.request("GET", "/v2/health/live")[0] == 200
        # Plain HTTP on the TLS port gets no HTTP answer.
        import http.client
        plain = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        with pytest.raises(Exception):
            plain.request("GET", "/v2/health/live")
            plain.getresponse()
        grpcclient = pytest.importorskip("tritonclient.grpc")
        client = grpcclient.InferenceServerClient(f"127.0.0.1:{gport}", ssl=True, root_certificates=str(cert))
        assert client.is_server_live()
        first = peer_cert(server.port, ctx)
        # A renewed certificate: new files, SIGHUP, new connections get it.
        old_cert = cert.read_bytes()
        key2, cert2 = make_cert(tmp_path, "renewed")
        key.write_bytes(key2.read_bytes())
        cert.write_bytes(cert2.read_bytes())
        server.proc.send_signal(signal.SIGHUP)
        ctx2 = ssl.create_default_context(cafile=str(cert2))
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                if peer_cert(server.port, ctx2) != first:
                    break
            except ssl.SSLError:
                pass
            time.sleep(0.1)
        renewed = peer_cert(server.port, ctx2)
        assert renewed != first and ssl.DER_cert_to_PEM_cert(renewed).strip() == cert2.read_text().strip()
        # Bad files: the reload is refused and the renewed certificate keeps serving.
        cert.write_text("not a certificate")
        server.proc.send_signal(signal.SIGHUP)
        time.sleep(1)
        assert peer_cert(server.port, ctx2) == renewed
        assert "reload failed" in server.log()
        del old_cert
    finally:
        server.stop()


def test_mutual_tls_needs_a_client_certificate_from_the_ca(tmp_path):
    ca_key, ca_cert = make_cert(tmp_path, "ca", cn="127.0.0.1")
    key, cert = make_cert(tmp_path, "server")
    client_key, client_cert = make_cert(tmp_path, "client", ca=(ca_key, ca_cert))
    rogue_ca = make_cert(tmp_path, "rogue-ca")
    rogue_key, rogue_cert = make_cert(tmp_path, "rogue", ca=rogue_ca)
    ctx = ssl.create_default_context(cafile=str(cert))
    ctx.load_cert_chain(str(client_cert), str(client_key))
    server = Server(tmp_path / "data", tmp_path / "server.log", "--grpc-port", "0", "--tls-cert", str(cert), "--tls-key", str(key),
                    "--tls-client-ca", str(ca_cert), ssl_context=ctx)
    try:
        assert server.request("GET", "/v2/health/live")[0] == 200
        for chain in [None, (rogue_cert, rogue_key)]:
            bare = ssl.create_default_context(cafile=str(cert))
            if chain:
                bare.load_cert_chain(str(chain[0]), str(chain[1]))
            import http.client
            conn = http.client.HTTPSConnection("127.0.0.1", server.port, timeout=5, context=bare)
            with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
                conn.request("GET", "/v2/health/live")
                conn.getresponse().read()
    finally:
        server.stop()


def test_bad_tls_and_trust_files_exit_2(tmp_path):
    (tmp_path / "junk.pem").write_text("junk")
    for args in (["--tls-cert", str(tmp_path / "junk.pem"), "--tls-key", str(tmp_path / "junk.pem")],
                 ["--tls-cert", str(tmp_path / "missing.pem"), "--tls-key", str(tmp_path / "missing.key")],
                 ["--require-signed", "--trusted-key", str(tmp_path / "junk.pem")]):
        p = subprocess.run([str(berth_path()), "serve", "--insecure-no-auth", "--registry", "--data-dir", str(tmp_path / "d"),
                            "--port", "0", "--grpc-port", "0", *args], capture_output=True, text=True, timeout=60)
        assert p.returncode == 2 and "Error" in p.stderr, (args, p.returncode, p.stderr)


def test_artifacts_encrypted_at_rest(tmp_path):
    """--artifact-key / BERTH_ARTIFACT_KEY: stored files are AES-GCM ciphertext (no plaintext bytes
    on disk), read back identical with the key, refused without it or with another, refused when
    one byte changes; a server with the key serves them and leaves no decrypted copy behind."""
    import os
    data = tmp_path / "data"
    key = subprocess.run(["openssl", "rand", "-base64", "32"], check=True, capture_output=True, text=True).stdout.strip()
    (tmp_path / "other.key").write_text(subprocess.run(["openssl", "rand", "-hex", "32"], check=True, capture_output=True,
                                                      text=True).stdout)
    env = {**os.environ, "BERTH_ARTIFACT_KEY": key}
    plain = model_bytes(1, pad_mb=3)  # > 1 MiB: several chunks
    (tmp_path / "m1.onnx").write_bytes(plain)
    def cli(*args, environ=env):
        return subprocess.run([str(berth_path()), "registry", *args, "--data-dir", str(data)], capture_output=True, text=True,
                              timeout=120, env=environ)
    assert cli("push", NAME, str(tmp_path / "m1.onnx")).returncode == 0
    assert cli("promote", NAME, "1").returncode == 0
    stored = artifact_path(data, hashlib.sha256(plain).hexdigest())
    blob = stored.read_bytes()
    assert blob[:8] == b"BERTHAE1" and plain[100:164] not in blob and plain[-64:] not in blob
    assert cli("pull", f"{NAME}@1", str(tmp_path / "back.onnx")).returncode == 0
    assert (tmp_path / "back.onnx").read_bytes() == plain
    no_key = {k: v for k, v in env.items() if k != "BERTH_ARTIFACT_KEY"}
    p = cli("pull", f"{NAME}@1", str(tmp_path / "x.onnx"), environ=no_key)
    assert p.returncode == 2 and "encrypted" in p.stderr, p.stderr
    p = cli("pull", f"{NAME}@1", str(tmp_path / "x.onnx"), "--artifact-key", str(tmp_path / "other.key"), environ=no_key)
    assert p.returncode == 2 and "another key" in p.stderr, p.stderr
    # The server decrypts to load, answers, and removes the copy.
    server = None
    try:
        os.environ["BERTH_ARTIFACT_KEY"] = key
        server = Server(data, tmp_path / "server.log", "--grpc-port", "0")
        status, _, raw = server.request("POST", f"/v2/models/{NAME}/infer", infer_body(X), headers={"Content-Type": "application/json"})
        assert status == 200 and answer(raw)[0] == 1, raw
        assert not [f for f in (data / "tmp").iterdir() if "decrypted" in f.name]
    finally:
        os.environ.pop("BERTH_ARTIFACT_KEY", None)
        if server:
            server.stop()
    # One flipped byte in the ciphertext: authentication fails.
    tampered = bytearray(blob)
    tampered[len(tampered) // 2] ^= 1
    stored.chmod(0o644)
    stored.write_bytes(bytes(tampered))
    p = cli("pull", f"{NAME}@1", str(tmp_path / "y.onnx"))
    assert p.returncode == 2 and "authentication" in p.stderr, p.stderr
    assert not (tmp_path / "y.onnx").exists()
