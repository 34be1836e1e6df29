"""Keys, roles and tenants on a real `berth serve --registry` (issue 14, docs/security.md).

Table-driven: every route of the REST API is tried by anonymous callers, by each role, by a revoked
and an expired key and by another tenant's key; the status must be 401 (no usable key), 403 (the
role may not), 404 (another tenant's model: existence is not leaked) or allowed (anything but
401/403/404, since a right caller may still send a body the route refuses). Route variants
(trailing slash, case, percent-encoding, HEAD, OPTIONS) must never let an anonymous caller in.
Also: the server without keys answers health only and says how to create a key; listings and
metrics show a tenant only its models; the audit log records admin actions without the key; gRPC
applies the same decision; quotas answer 429 with Retry-After.
"""
from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import berth_path
from test_registry_cli import NAME, model_bytes
from test_registry_server import Server, infer_body

OTHER = "beta-model"  # owned by tenant b


def keys(data: Path, *args: str) -> str:
    p = subprocess.run([str(berth_path()), "keys", *args, "--data-dir", str(data)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, (args, p.stderr)
    return p.stdout


def create_key(data: Path, tenant: str, role: str, *extra: str) -> str:
    out = keys(data, "create", "--tenant", tenant, "--role", role, *extra).strip().splitlines()
    key = out[-1]  # the key alone on the last line
    assert key.startswith("brt_") and len(key) == 81, out
    return key


def bearer(key: str | None) -> dict:
    return {"Authorization": f"Bearer {key}"} if key else {}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Tenant a owns NAME (pushed through the API with a's deployer key), tenant b owns OTHER."""
    tmp = tmp_path_factory.mktemp("auth")
    data = tmp / "data"
    k = {
        "admin": create_key(data, "ops", "admin"),
        "viewer": create_key(data, "a", "viewer"),
        "invoker": create_key(data, "a", "invoker"),
        "deployer": create_key(data, "a", "deployer"),
        "other": create_key(data, "b", "deployer"),
        "scoped": create_key(data, "a", "deployer", "--models", "nothing-*"),
        "revoked": create_key(data, "a", "admin"),
        "expired": create_key(data, "a", "admin", "--expires", "1s"),
    }
    revoked_id = k["revoked"].split("_")[1]
    keys(data, "revoke", revoked_id)
    server = Server(data, tmp / "server.log", "--grpc-port", "0", auth=True)
    for name, key in [(NAME, k["deployer"]), (OTHER, k["other"])]:
        status, _, raw = server.request("POST", f"/api/v1/models/{name}/versions", model_bytes(1),
                                        headers={**bearer(key), "Content-Type": "application/octet-stream"})
        assert status == 201, raw
        status, _, raw = server.request("POST", f"/api/v1/models/{name}/promote", {"version": 1}, headers=bearer(key))
        assert status == 200, raw
    time.sleep(1.2)  # the expired key's second has passed
    yield server, k, data
    server.stop()


X = np.ones((1, 4), np.float32)
INFER = infer_body(X)

# (method, path, body, least role). {m}: the model under test.
ROUTES = [
    ("GET", "/v2", None, "viewer"),
    ("GET", "/v2/models/{m}", None, "viewer"),
    ("GET", "/v2/models/{m}/ready", None, "viewer"),
    ("GET", "/v2/models/{m}/config", None, "viewer"),
    ("GET", "/v2/models/{m}/stats", None, "viewer"),
    ("GET", "/v2/models/{m}/versions/1", None, "viewer"),
    ("GET", "/v2/models/stats", None, "viewer"),
    ("POST", "/v2/repository/index", {}, "viewer"),
    ("GET", "/metrics", None, "viewer"),
    ("GET", "/dashboard", None, "viewer"),
    ("GET", "/api/v1/dashboard", None, "viewer"),
    ("GET", "/api/v1/models", None, "viewer"),
    ("GET", "/api/v1/models/{m}", None, "viewer"),
    ("GET", "/api/v1/models/{m}/versions", None, "viewer"),
    ("GET", "/api/v1/models/{m}/history", None, "viewer"),
    ("GET", "/api/v1/models/{m}/traffic", None, "viewer"),
    ("POST", "/v2/models/{m}/infer", INFER, "invoker"),
    ("GET", "/v1/models", None, "viewer"),
    ("POST", "/v1/embeddings", {"model": NAME, "input": "x"}, "invoker"),
    ("POST", "/v2/models/{m}/versions/1/infer", INFER, "invoker"),
    ("GET", "/api/v1/models/{m}/versions/1/artifact", None, "deployer"),
    ("PUT", "/api/v1/models/{m}/aliases/staging", {"version": 1}, "deployer"),
    ("POST", "/api/v1/models/{m}/promote", {"version": 1}, "deployer"),
    ("PUT", "/api/v1/models/{m}/traffic", {}, "deployer"),
    ("POST", "/v2/repository/models/{m}/load", {}, "admin"),
    ("PUT", "/api/v1/models/{m}/tenant", {"tenant": "a"}, "admin"),
]
RANK = {"viewer": 0, "invoker": 1, "deployer": 2, "admin": 3}
PER_MODEL = lambda path: "{m}" in path  # noqa: E731


def call(server, method, path, body, key):
    headers = bearer(key)
    if isinstance(body, bytes):
        headers["Content-Type"] = "application/json"
    status, hdrs, raw = server.request(method, path, body, headers=headers)
    return status, hdrs, raw


@pytest.mark.parametrize("method,path,body,least", ROUTES, ids=[f"{m} {p}" for m, p, _, _ in ROUTES])
def test_route_table(world, method, path, body, least):
    server, k, _ = world
    p = path.format(m=NAME)
    # No key, a malformed one, an unknown one, a revoked one, an expired one: 401 with a reason.
    for key in [None, "not-a-key", "brt_000000000000_" + "0" * 64, k["revoked"], k["expired"]]:
        status, hdrs, raw = call(server, method, p, body, key)
        assert status == 401, (key, status, raw[:200])
        assert "Bearer" in hdrs.get("WWW-Authenticate", hdrs.get("www-authenticate", "")), hdrs
        assert json.loads(raw)["error"], raw
    for role in ["viewer", "invoker", "deployer", "admin"]:
        status, _, raw = call(server, method, p, body, k[role])
        if RANK[role] >= RANK[least]:
            assert status not in (401, 403, 404), (role, status, raw[:300])
        else:
            assert status == 403, (role, status, raw[:300])
            assert least in json.loads(raw)["error"], raw
    if PER_MODEL(path):
        # Tenant b's deployer on tenant a's model, and a's deployer whose scope excludes it: as if it did not exist.
        # The same key on a model that does not exist must get the same answer.
        for key in [k["other"], k["scoped"]]:
            status, _, raw = call(server, method, p, body, key)
            unknown, _, raw2 = call(server, method, path.format(m="no-such-model"), body, key)
            assert status == unknown, (status, unknown, raw[:300], raw2[:300])
            assert status == (403 if least == "admin" else 404), (status, raw[:300])


@pytest.mark.parametrize("method,path", [
    ("POST", "/v2/models/{m}/infer/"),          # trailing slash
    ("POST", "/V2/models/{m}/infer"),           # case
    ("POST", "/v2/models/%64igits/infer"),      # percent-encoded model name
    ("POST", "/v2/models/{m}%2Finfer"),         # encoded separator
    ("POST", "/v2//models/{m}/infer"),          # doubled separator
    ("HEAD", "/v2/models/{m}"),
    ("OPTIONS", "/v2/models/{m}/infer"),
    ("DELETE", "/api/v1/models/{m}/versions/1"),
    ("POST", "/api/v1/models/{m}/versions/"),
    ("GET", "/api/v1/models/{m}/versions/1/artifact/"),
    ("GET", "/no/such/route"),
])
def test_route_variants_never_let_anonymous_in(world, method, path):
    server, k, _ = world
    p = path.format(m=NAME)
    status, _, raw = call(server, method, p, INFER if method == "POST" else None, None)
    assert status == 401, (p, status, raw[:200])
    # A viewer reaches no state-changing variant either.
    status, _, raw = call(server, method, p, INFER if method == "POST" else None, k["viewer"])
    if method in ("POST", "DELETE", "PUT") and "repository/index" not in p:
        assert status in (403, 404, 405), (p, status, raw[:200])


def test_health_is_open_and_server_metadata_needs_a_key(world):
    server, _, _ = world
    assert server.request("GET", "/v2/health/live")[0] == 200
    assert server.request("GET", "/v2/health/ready")[0] == 200
    assert server.request("GET", "/v2")[0] == 401


def test_tenants_see_only_their_models(world):
    server, k, _ = world
    def names(key, path="/api/v1/models"):
        status, _, raw = call(server, "GET", path, None, key)
        assert status == 200, raw
        return {m["name"] for m in json.loads(raw)["models"]}
    assert names(k["viewer"]) == {NAME}
    assert names(k["other"]) == {OTHER}
    assert names(k["admin"]) == {NAME, OTHER}
    status, _, raw = call(server, "POST", "/v2/repository/index", {}, k["viewer"])
    assert {e["name"] for e in json.loads(raw)} == {NAME}
    assert call(server, "POST", f"/v2/models/{OTHER}/infer", INFER, k["other"])[0] == 200  # a series for b's model
    status, _, raw = call(server, "GET", "/metrics", None, k["other"])
    text = raw.decode()
    assert f'model="{OTHER}"' in text and f'model="{NAME}"' not in text
    status, _, raw = call(server, "GET", "/metrics", None, k["admin"])
    assert f'model="{NAME}"' in raw.decode()
    status, _, raw = call(server, "GET", "/api/v1/dashboard", None, k["viewer"])
    assert {m["name"] for m in json.loads(raw)["models"]} == {NAME}


def test_a_revoked_key_is_refused_at_once(world):
    server, _, data = world
    key = create_key(data, "a", "invoker")
    path = f"/v2/models/{NAME}/infer"
    assert call(server, "POST", path, INFER, key)[0] == 200
    keys(data, "revoke", key.split("_")[1])
    status, _, raw = call(server, "POST", path, INFER, key)
    assert status == 401 and "revoked" in json.loads(raw)["error"]


def test_keys_are_stored_hashed_and_listed_one_a_line(world):
    _, k, data = world
    listing = keys(data, "list")
    lines = [line for line in listing.splitlines() if line.strip()]
    assert len(lines) >= 8
    ids = {line.split()[0] for line in lines}
    assert k["admin"].split("_")[1] in ids
    for f in data.rglob("*"):
        if f.is_file():
            assert k["admin"].encode() not in f.read_bytes(), f"the key appears in {f}"


def test_audit_log_records_admin_actions_without_the_key(world):
    server, k, data = world
    call(server, "PUT", f"/api/v1/models/{NAME}/aliases/audited", {"version": 1}, k["deployer"])
    call(server, "PUT", f"/api/v1/models/{NAME}/aliases/audited", {"version": 1}, k["viewer"])  # refused: 403
    time.sleep(0.5)
    p = subprocess.run([str(berth_path()), "audit", "--data-dir", str(data), "--json"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    entries = json.loads(p.stdout)
    mine = [e for e in entries if e["action"] == "PUT /api/v1/models/{name}/aliases/{alias}" and e["target"] == NAME]
    assert any(e["status"] == 200 and e["tenant"] == "a" and e["role"] == "deployer" for e in mine), mine
    assert any(e["status"] == 403 and e["key_id"] == k["viewer"].split("_")[1] for e in mine), mine
    assert any(e["action"] == "keys create" for e in entries)
    for key in k.values():
        assert key not in p.stdout


def test_grpc_applies_the_same_decision(tmp_path):
    grpcclient = pytest.importorskip("tritonclient.grpc")
    data = tmp_path / "data"
    invoker = create_key(data, "a", "invoker")
    viewer = create_key(data, "a", "viewer")
    other = create_key(data, "b", "deployer")
    (tmp_path / "m.onnx").write_bytes(model_bytes(1))
    for args in (["push", NAME, str(tmp_path / "m.onnx")], ["promote", NAME, "1"]):
        p = subprocess.run([str(berth_path()), "registry", *args, "--data-dir", str(data)], capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
    subprocess.run([str(berth_path()), "tenants", "assign", NAME, "--tenant", "a", "--data-dir", str(data)], check=True,
                   capture_output=True)
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        grpc_port = s.getsockname()[1]
    server = Server(data, tmp_path / "server.log", "--grpc-port", str(grpc_port), auth=True)
    try:
        client = grpcclient.InferenceServerClient(f"127.0.0.1:{grpc_port}")
        inp = grpcclient.InferInput("x", [1, 4], "FP32")
        inp.set_data_from_numpy(X)
        def infer(key):
            return client.infer(NAME, [inp], headers={"authorization": f"Bearer {key}"} if key else None)
        assert infer(invoker).as_numpy("y").shape == (1, 3)
        for key, code in [(None, "UNAUTHENTICATED"), (viewer, "PERMISSION_DENIED"), (other, "NOT_FOUND")]:
            with pytest.raises(Exception) as e:
                infer(key)
            assert code in str(e.value.status() if hasattr(e.value, "status") else e.value), (key, e.value)
        assert client.is_server_live()  # health needs no key
        # `berth bench --protocol grpc` sends the key as tritonclient does and meets the same decisions.
        def bench(key):
            return subprocess.run([str(berth_path()), "bench", "--protocol", "grpc", "--url", f"127.0.0.1:{grpc_port}", "--model", NAME,
                                   "--requests", "4", "--warmup", "1", "--json", *(["--api-key", key] if key else [])],
                                  capture_output=True, text=True, timeout=120, env={k: v for k, v in os.environ.items() if k != "BERTH_API_KEY"})
        ok = bench(invoker)
        assert ok.returncode == 0 and json.loads(ok.stdout)[0]["errors"] == 0, ok.stderr
        for key, code in [(None, "unauthenticated"), (viewer, "permissionDenied"), (other, "notFound")]:
            p = bench(key)
            assert p.returncode != 0 and f"gRPC {code}" in p.stderr, (key, p.stderr)
        assert client.is_server_live()  # health needs no key
    finally:
        server.stop()


def test_no_keys_refuses_all_but_health_and_says_how(tmp_path):
    data = tmp_path / "data"
    server = Server(data, tmp_path / "server.log", "--grpc-port", "0", auth=True)
    try:
        assert server.request("GET", "/v2/health/live")[0] == 200
        status, _, raw = server.request("GET", "/api/v1/models")
        assert status == 401 and "berth keys create" in json.loads(raw)["error"]
        assert "berth keys create" in server.log()
    finally:
        server.stop()


def test_insecure_no_auth_warns_in_metadata(tmp_path):
    server = Server(tmp_path / "data", tmp_path / "server.log", "--grpc-port", "0")
    try:
        status, _, raw = server.request("GET", "/v2")
        assert status == 200 and "insecure-no-auth" in json.loads(raw)["warning"]
        assert "insecure-no-auth" in server.log()
    finally:
        server.stop()


def test_quota_answers_429_with_retry_after_and_spares_other_tenants(tmp_path):
    data = tmp_path / "data"
    a = create_key(data, "a", "invoker")
    b = create_key(data, "b", "invoker")
    (tmp_path / "m.onnx").write_bytes(model_bytes(1))
    for args in (["registry", "push", NAME, str(tmp_path / "m.onnx")], ["registry", "promote", NAME, "1"],
                 ["tenants", "quota", "a", "--requests-per-second", "5"], ["tenants", "quota", "b", "--requests-per-second", "1000"]):
        p = subprocess.run([str(berth_path()), *args, "--data-dir", str(data)], capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
    server = Server(data, tmp_path / "server.log", "--grpc-port", "0", auth=True)
    try:
        path = f"/v2/models/{NAME}/infer"
        results: dict[str, list] = {"a": [], "b": []}
        def flood():  # 10x a's quota for 2 seconds
            end = time.time() + 2
            while time.time() < end:
                results["a"].append(call(server, "POST", path, INFER, a)[:2])
                time.sleep(0.02)
        def steady():
            end = time.time() + 2
            while time.time() < end:
                results["b"].append(call(server, "POST", path, INFER, b)[0])
                time.sleep(0.05)
        threads = [threading.Thread(target=flood), threading.Thread(target=steady)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        limited = [h for s, h in results["a"] if s == 429]
        passed = [s for s, _ in results["a"] if s == 200]
        assert limited, "tenant a was never limited"
        assert all(int(h.get("Retry-After", h.get("retry-after", "0"))) >= 1 for h in limited)
        # Token bucket: one second of burst (5) plus 5/s over ~2 s, with slack for timing.
        assert 5 <= len(passed) <= 5 + 5 * 3, len(passed)
        assert results["b"] and all(s == 200 for s in results["b"]), results["b"]
        metrics = call(server, "GET", "/metrics", None, create_key(data, "ops", "admin"))[2].decode()
        assert 'reason="rate_limited"' in metrics
    finally:
        server.stop()


def test_admin_api_on_its_own_listener(tmp_path):
    """--admin-port: the admin API, repository control, dashboard and /metrics move off the inference port."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        admin_port = s.getsockname()[1]
    data = tmp_path / "data"
    key = create_key(data, "a", "admin")
    (tmp_path / "m.onnx").write_bytes(model_bytes(1))
    for args in (["push", NAME, str(tmp_path / "m.onnx")], ["promote", NAME, "1"]):
        subprocess.run([str(berth_path()), "registry", *args, "--data-dir", str(data)], check=True, capture_output=True)
    server = Server(data, tmp_path / "server.log", "--grpc-port", "0", "--admin-port", str(admin_port),
                    "--prediction-log-sample", "1", auth=True)
    import http.client
    def admin(method, path, body=None):
        conn = http.client.HTTPConnection("127.0.0.1", admin_port, timeout=30)
        try:
            conn.request(method, path, body=json.dumps(body) if body is not None else None,
                         headers={**bearer(key), "Content-Type": "application/json"})
            r = conn.getresponse()
            return r.status, r.read()
        finally:
            conn.close()
    try:
        for path in ["/api/v1/models", "/metrics", "/dashboard"]:
            assert call(server, "GET", path, None, key)[0] == 404, path
            assert admin("GET", path)[0] == 200, path
        assert call(server, "POST", "/v2/repository/index", {}, key)[0] == 404
        assert admin("POST", "/v2/repository/index", {})[0] == 200
        status, _, raw = call(server, "POST", f"/v2/models/{NAME}/infer", INFER, key)
        assert status == 200, raw
        assert admin("POST", f"/v2/models/{NAME}/infer", json.loads(INFER))[0] == 404
        # Feedback stays beside inference: the clients that infer send it.
        rid = json.loads(raw)["id"]
        status, _, raw = call(server, "POST", f"/api/v1/models/{NAME}/feedback", {"feedback": [{"id": rid, "label": 1}]}, key)
        assert status == 200, raw
        # Anonymous callers are refused on both listeners.
        assert call(server, "GET", "/v2", None, None)[0] == 401
        conn = http.client.HTTPConnection("127.0.0.1", admin_port, timeout=30)
        conn.request("GET", "/api/v1/models")
        assert conn.getresponse().status == 401
        assert "admin listening" in server.log()
    finally:
        server.stop()


def test_jwt_bearer_tokens_carry_the_same_claims(tmp_path):
    """--jwt-key: tokens issued by PyJWT (the reference issuer), HS256 and ES256, with iss/aud/exp checked."""
    jwt = pytest.importorskip("jwt")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    data = tmp_path / "data"
    (tmp_path / "m.onnx").write_bytes(model_bytes(1))
    for args in (["push", NAME, str(tmp_path / "m.onnx")], ["promote", NAME, "1"]):
        subprocess.run([str(berth_path()), "registry", *args, "--data-dir", str(data)], check=True, capture_output=True)
    subprocess.run([str(berth_path()), "tenants", "assign", NAME, "--tenant", "a", "--data-dir", str(data)], check=True, capture_output=True)
    secret = "s" * 40
    (tmp_path / "hs.key").write_text(secret)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "es.pub").write_bytes(ec_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                                        serialization.PublicFormat.SubjectPublicKeyInfo))
    path = f"/v2/models/{NAME}/infer"
    for key_file, sign in [("hs.key", lambda c: jwt.encode(c, secret, algorithm="HS256")),
                           ("es.pub", lambda c: jwt.encode(c, ec_key, algorithm="ES256"))]:
        server = Server(data, tmp_path / f"{key_file}.log", "--grpc-port", "0", "--jwt-key", str(tmp_path / key_file),
                        "--jwt-issuer", "https://idp.example", "--jwt-audience", "berth", auth=True)
        try:
            now = int(time.time())
            base = {"iss": "https://idp.example", "aud": "berth", "exp": now + 60, "sub": "ci", "tenant": "a", "role": "invoker"}
            assert call(server, "POST", path, INFER, sign(base))[0] == 200
            assert call(server, "POST", path, INFER, sign({**base, "role": "viewer"}))[0] == 403
            assert call(server, "POST", path, INFER, sign({**base, "tenant": "b"}))[0] == 404
            assert call(server, "POST", path, INFER, sign({**base, "models": "other-*"}))[0] == 404
            for bad in [{**base, "exp": now - 5}, {**base, "aud": "someone-else"}, {**base, "iss": "https://evil"},
                        {**base, "role": "root"}, {k: v for k, v in base.items() if k != "exp"}]:
                status, _, raw = call(server, "POST", path, INFER, sign(bad))
                assert status == 401 and "token" in json.loads(raw)["error"], (bad, status, raw)
            forged = jwt.encode(base, "x" * 40, algorithm="HS256")
            assert call(server, "POST", path, INFER, forged)[0] == 401
            unsigned = jwt.encode(base, None, algorithm="none")
            assert call(server, "POST", path, INFER, unsigned)[0] == 401
        finally:
            server.stop()


@pytest.mark.parametrize("name", ["..%2Fsecret", "%2e%2e%2Fsecret", "..%252Fsecret", "..%2F..%2Fetc", "%2e%2e", "%252e%252e", "m%2F..%2F..%2Fsecret", ".hidden", "m%00", "m%5C..%5Csecret"])
def test_model_names_cannot_escape_the_repository(tmp_path, name):
    """Names are validated before any path is built: encoded separators, dot segments and double
    encoding reach no file outside the repository (a model sits beside it, named `secret`)."""
    import http.client
    import shutil
    from test_http_edges import make_repository
    repo = make_repository(tmp_path / "r")
    secret = repo.parent / "secret" / "1"  # reachable as <repo>/../secret
    secret.mkdir(parents=True)
    shutil.copy(next(repo.glob("*/1/model.onnx")), secret / "model.onnx")
    port_sock = __import__("socket").socket()
    port_sock.bind(("127.0.0.1", 0))
    port = port_sock.getsockname()[1]
    port_sock.close()
    proc = subprocess.Popen([str(berth_path()), "serve", "--insecure-no-auth", "--model-repository", str(repo), "--port", str(port),
                             "--grpc-port", "0", "--model-control", "explicit"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                c.request("GET", "/v2/health/live")
                if c.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.1)
        for path in [f"/v2/repository/models/{name}/load", f"/v2/models/{name}", f"/v2/models/{name}/infer"]:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.request("POST" if "load" in path or "infer" in path else "GET", path, body=b"{}")
            status = c.getresponse().status
            assert status in (400, 404), (path, status)
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("POST", "/v2/repository/index", body=b"{}")
        names = {e["name"] for e in json.loads(c.getresponse().read())}
        assert "secret" not in names and not any(".." in n for n in names), names
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_berth_bench_sends_the_key(world):
    server, k, _ = world
    url = f"http://127.0.0.1:{server.port}"
    base = [str(berth_path()), "bench", "--url", url, "--model", NAME, "--concurrency", "1", "--requests", "20", "--json"]
    p = subprocess.run([*base, "--api-key", k["invoker"]], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)[0]["errors"] == 0
    import os
    p = subprocess.run(base, capture_output=True, text=True, timeout=120, env={**os.environ, "BERTH_API_KEY": k["invoker"]})
    assert p.returncode == 0, p.stderr
    p = subprocess.run(base, capture_output=True, text=True, timeout=120, env={k2: v for k2, v in os.environ.items() if k2 != "BERTH_API_KEY"})
    assert p.returncode != 0 and "401" in p.stderr, p.stderr


def test_a_model_without_owner_is_readable_by_all_and_changed_by_admins_only(tmp_path):
    """A model the CLI pushed has no owner tenant: any key whose scope names it may read and infer,
    but deploy-level changes need an admin (or an owner assigned first); a push into another
    tenant's model is refused inside the write, as unknown."""
    data = tmp_path / "data"
    admin, deployer, invoker = (create_key(data, "ops", "admin"), create_key(data, "a", "deployer"),
                                create_key(data, "a", "invoker"))
    other = create_key(data, "b", "deployer")
    (tmp_path / "m.onnx").write_bytes(model_bytes(1))
    for args in (["push", NAME, str(tmp_path / "m.onnx")], ["promote", NAME, "1"]):
        subprocess.run([str(berth_path()), "registry", *args, "--data-dir", str(data)], check=True, capture_output=True)
    server = Server(data, tmp_path / "server.log", "--grpc-port", "0", auth=True)
    try:
        assert call(server, "POST", f"/v2/models/{NAME}/infer", INFER, invoker)[0] == 200
        status, _, raw = call(server, "POST", f"/api/v1/models/{NAME}/rollback", {}, deployer)
        assert status == 403 and "no owner" in json.loads(raw)["error"], raw
        status, _, raw = server.request("POST", f"/api/v1/models/{NAME}/versions", model_bytes(2),
                                        headers={**bearer(deployer), "Content-Type": "application/octet-stream"})
        assert status == 403, raw
        # An admin assigns it; then its owner may change it and another tenant cannot even see it.
        assert call(server, "PUT", f"/api/v1/models/{NAME}/tenant", {"tenant": "a"}, admin)[0] == 200
        status, _, raw = server.request("POST", f"/api/v1/models/{NAME}/versions", model_bytes(2),
                                        headers={**bearer(deployer), "Content-Type": "application/octet-stream"})
        assert status == 201, raw
        status, _, raw = server.request("POST", f"/api/v1/models/{NAME}/versions", model_bytes(3),
                                        headers={**bearer(other), "Content-Type": "application/octet-stream"})
        assert status == 404, raw
        p = subprocess.run([str(berth_path()), "keys", "create", "--tenant", "x", "--role", "admin", "--models", "a*",
                            "--data-dir", str(data)], capture_output=True, text=True)
        assert p.returncode == 2 and "--models" in p.stderr
    finally:
        server.stop()
