"""End-to-end tests of `berth serve --registry` and the admin REST API (docs/registry.md).

Versions are tiny linear models y = x·W_k + b_k (x: FP32 [-1, 4], y: FP32 [-1, 3]) with weights per
version k, so every answer can be checked against the version it names in `model_version`.
Checked: promote/rollback under 16 clients (nothing dropped, every answer from a version that was
live during the request), SIGKILL of the server mid-upload, canary shares and sticky routing keys,
shadow traffic metrics, admin API errors and OpenAPI document, per-version inference, and changes
made by the CLI picked up by a running server.
"""
from __future__ import annotations

import hashlib
import http.client
import json
import os
import random
import re
import signal
import subprocess
import threading
import time
import urllib.parse
from pathlib import Path

import numpy as np
import pytest
from conftest import berth_path
import berthpy
from test_registry_cli import IN, NAME, artifact_stems, files, model_bytes, weights

POLL = ["--poll-interval-ms", "200"]  # docs say --poll-interval; the binary takes milliseconds
ATOL = 1e-4


def reference(version: int, x: np.ndarray) -> np.ndarray:
    w, b = weights(version)
    return x @ w + b


def cli(data: Path, *args: str) -> str:
    p = subprocess.run([str(berth_path()), "registry", *args, "--data-dir", str(data)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, f"berth registry {' '.join(args)} -> {p.returncode}\n{p.stderr}"
    return p.stdout


def cli_setup(tmp_path: Path, n: int, aliases: dict[str, int]) -> Path:
    """A data dir with versions 1..n of NAME and the given aliases, made with the CLI."""
    data = tmp_path / "data"
    for k in range(1, n + 1):
        (tmp_path / f"m{k}.onnx").write_bytes(model_bytes(k))
        cli(data, "push", NAME, str(tmp_path / f"m{k}.onnx"))
    for alias, version in aliases.items():
        cli(data, "alias", NAME, alias, str(version))
    return data


class Server:
    """`berth serve --registry` on 127.0.0.1 and a free port; the log goes to a file."""

    def __init__(self, data: Path, log: Path, *extra: str, auth: bool = False, ssl_context=None, ready: bool = True):
        """`auth`: keys required (else --insecure-no-auth); `ssl_context`: talk HTTPS with it
        (the server gets its --tls-* options in `extra`); `ready`: wait for /v2/health/ready
        (else only for /v2/health/live, for a server whose models may not load)."""
        self.port = berthpy.free_port()
        self.log_path = log
        self._log = open(log, "ab")
        self.ssl_context = ssl_context
        env = {k: v for k, v in os.environ.items() if k != "BERTH_DATA_DIR"}
        self.proc = subprocess.Popen([str(berth_path()), "serve", *([] if auth else ["--insecure-no-auth"]), "--registry",
                                      "--data-dir", str(data), "--port", str(self.port), *POLL, *extra],
                                     stdout=self._log, stderr=subprocess.STDOUT, env=env)
        probe = "/v2/health/ready" if ready else "/v2/health/live"
        deadline = time.time() + 120
        while time.time() < deadline and self.proc.poll() is None:
            try:
                if self.request("GET", probe, timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        pytest.fail(f"berth serve did not become ready (exit {self.proc.returncode}):\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def request(self, method: str, path: str, body=None, headers: dict | None = None, timeout: float = 60):
        """(status, headers, body bytes); a dict/list body is sent as JSON, bytes/str as they are."""
        conn = (http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout, context=self.ssl_context)
                if self.ssl_context else http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout))
        try:
            hdrs = dict(headers or {})
            if isinstance(body, (dict, list)):
                body = json.dumps(body).encode()
                hdrs.setdefault("Content-Type", "application/json")
            conn.request(method, path, body=body, headers=hdrs)
            r = conn.getresponse()
            return r.status, dict(r.getheaders()), r.read()
        finally:
            conn.close()

    def api(self, method: str, path: str, body=None, want: int = 200, **kw):
        status, _, raw = self.request(method, "/api/v1" + path, body, **kw)
        assert status == want, f"{method} /api/v1{path} -> {status} {raw[:500]!r}"
        doc = json.loads(raw) if raw else None
        if status >= 400:
            assert isinstance(doc.get("error"), str) and doc["error"], doc
        return doc

    def upload(self, k: int, want: int = 201, **query):
        q = urllib.parse.urlencode(query)
        return self.api("POST", f"/models/{NAME}/versions" + (f"?{q}" if q else ""), model_bytes(k), want=want,
                        headers={"Content-Type": "application/octet-stream"})

    def metrics(self) -> str:
        return self.request("GET", "/metrics")[2].decode()

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.stop()

    def stop(self) -> None:
        berthpy.stop_process(self.proc)
        self._log.close()


def infer_body(x: np.ndarray) -> bytes:
    return json.dumps({"inputs": [{"name": "x", "shape": list(x.shape), "datatype": "FP32",
                                   "data": x.ravel().tolist()}]}).encode()


def answer(raw: bytes) -> tuple[int, np.ndarray]:
    doc = json.loads(raw)
    out = doc["outputs"][0]
    return int(doc["model_version"]), np.asarray(out["data"], np.float32).reshape(out["shape"])


def infer(server: Server, x: np.ndarray, path: str = f"/v2/models/{NAME}/infer", headers=None):
    status, _, raw = server.request("POST", path, infer_body(x), {"Content-Type": "application/json", **(headers or {})})
    return (status, *answer(raw)) if status == 200 else (status, None, json.loads(raw))


def disk_is_clean(data: Path, referenced: set[str]) -> None:
    assert files(data / "tmp") == set(), f"tmp/ has leftovers: {files(data / 'tmp')}"
    assert artifact_stems(data) == referenced, "artifacts/ holds exactly the versions' files"


class Clients:
    """`n` threads sending 2-row requests on keep-alive connections until stopped; records every request."""

    def __init__(self, server: Server, n: int):
        self.server, self.stop_flag, self.lock = server, threading.Event(), threading.Lock()
        self.records: list[tuple[float, float, int, int | None, bool]] = []  # start, end, status, version, output ok
        self.errors: list[str] = []
        self.threads = [threading.Thread(target=self.loop, args=(k,), daemon=True) for k in range(n)]
        for t in self.threads:
            t.start()

    def loop(self, k: int) -> None:
        rng = np.random.default_rng(k)
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=60)
        while not self.stop_flag.is_set():
            x = rng.integers(-3, 4, size=(2, IN)).astype(np.float32)
            t0 = time.perf_counter()
            try:
                conn.request("POST", f"/v2/models/{NAME}/infer", infer_body(x), {"Content-Type": "application/json"})
                r = conn.getresponse()
                raw = r.read()
            except (OSError, http.client.HTTPException) as e:
                with self.lock:
                    self.errors.append(f"client {k}: {type(e).__name__}: {e}")
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=60)
                continue
            t1 = time.perf_counter()
            if r.status != 200:
                with self.lock:
                    self.errors.append(f"client {k}: HTTP {r.status}: {raw[:300]!r}")
                    self.records.append((t0, t1, r.status, None, False))
                continue
            v, y = answer(raw)
            good = v in (1, 2) and np.allclose(y, reference(v, x), atol=ATOL)
            with self.lock:
                self.records.append((t0, t1, 200, v, good))
        conn.close()

    def stop(self) -> None:
        self.stop_flag.set()
        for t in self.threads:
            t.join(timeout=60)


def test_promote_rollback_under_load_drops_nothing(tmp_path):
    data = cli_setup(tmp_path, 2, {"production": 1})
    probe = np.ones((1, IN), np.float32)
    assert np.abs(reference(1, probe) - reference(2, probe)).max() > 0.1
    server = Server(data, tmp_path / "server.log")
    calls: list[tuple[float, float, int, int]] = []  # admin call start, return, from, to
    problems: list[str] = []
    clients = Clients(server, 16)
    try:
        time.sleep(0.5)
        live = 1
        for cycle in range(20):
            for action, body, want in (("promote", {"version": 2, "reason": f"cycle {cycle}"}, 2),
                                       ("rollback", {"reason": f"cycle {cycle}"}, 1)):
                a = time.perf_counter()
                status, _, raw = server.request("POST", f"/api/v1/models/{NAME}/{action}", body,
                                                {"x-berth-actor": "load-test"})
                b = time.perf_counter()
                calls.append((a, b, live, want))
                if status != 200:
                    problems.append(f"{action} -> {status} {raw[:300]!r}")
                    break
                ev = json.loads(raw)
                if (ev["action"], ev["from"], ev["to"], ev["actor"]) != (action, live, want, "load-test"):
                    problems.append(f"{action} answered {ev}")
                live = want
                time.sleep(0.05)
            if problems:
                break
        time.sleep(0.3)
    finally:
        clients.stop()
        server_alive = server.proc.poll() is None
        model = server.api("GET", f"/models/{NAME}") if server_alive else None
        server.stop()
    assert server_alive, server.log()
    assert not problems, problems
    assert not clients.errors, f"{len(clients.errors)} failed requests: {clients.errors[:10]}"
    assert model["aliases"] == {"production": 1}

    def allowed(s: float, e: float) -> set[int]:
        before = [c for c in calls if c[0] <= s]
        vs = {1} if not before else ({before[-1][3]} | ({before[-1][2]} if s <= before[-1][1] else set()))
        for a, b, frm, to in calls:
            if a <= e and b >= s:
                vs |= {frm, to}
        return vs

    recs = clients.records
    wrong = [r for r in recs if not r[4]]
    assert not wrong, f"{len(wrong)} answers do not match the version they name: {wrong[:5]}"
    stale = [(r[3], sorted(allowed(r[0], r[1]))) for r in recs if r[3] not in allowed(r[0], r[1])]
    per = {v: sum(1 for r in recs if r[3] == v) for v in (1, 2)}
    print(f"promote/rollback under load: {len(recs)} requests, per version {per}, "
          f"{len(calls)} admin calls, mean {1000 * np.mean([b - a for a, b, *_ in calls]):.1f} ms")
    assert not stale, f"{len(stale)} requests served by a version not live during them: {stale[:5]}"
    assert per[1] > 0 and per[2] > 0


def test_kill_9_during_api_upload_keeps_the_registry_whole(tmp_path):
    data = cli_setup(tmp_path, 2, {"production": 1, "candidate": 2})
    big = model_bytes(3, pad_mb=24)
    big_sha = hashlib.sha256(big).hexdigest()
    rng = random.Random(7)
    for phase in ("mid-body", "body-sent"):
        server = Server(data, tmp_path / "server.log")
        before = server.api("GET", f"/models/{NAME}")
        before_versions = server.api("GET", f"/models/{NAME}/versions")["versions"]
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        conn.putrequest("POST", f"/api/v1/models/{NAME}/versions?reason=kill")
        conn.putheader("Content-Type", "application/octet-stream")
        conn.putheader("Content-Length", str(len(big)))
        conn.endheaders()
        step = 1 << 20
        end = len(big) // 2 if phase == "mid-body" else len(big)
        for i in range(0, end, step):
            conn.send(big[i:min(i + step, end)])
            time.sleep(0.01)
        time.sleep(0.3 if phase == "mid-body" else rng.uniform(0.0, 0.3))
        in_tmp = files(data / "tmp")
        server.kill9()
        conn.close()

        server = Server(data, tmp_path / "server.log")
        try:
            after = server.api("GET", f"/models/{NAME}")
            vs = server.api("GET", f"/models/{NAME}/versions")["versions"]
            new = [v for v in vs if v["version"] not in {b["version"] for b in before_versions}]
            print(f"{phase}: tmp/ before the kill {sorted(in_tmp)}; new versions after restart {new}")
            assert vs[:len(before_versions)] == before_versions, "the previous versions are intact"
            assert phase == "body-sent" or not new, "a half-uploaded version is listed"
            for v in new:  # a version that made it must be whole
                assert v["sha256"] == big_sha and v["size"] == len(big), v
                status, hdrs, raw = server.request("GET", f"/api/v1/models/{NAME}/versions/{v['version']}/artifact")
                assert status == 200 and hashlib.sha256(raw).hexdigest() == big_sha
            assert after["aliases"] == before["aliases"] == {"production": 1, "candidate": 2}
            x = np.arange(2 * IN, dtype=np.float32).reshape(2, IN)
            status, v, y = infer(server, x)
            assert status == 200 and v == 1 and np.allclose(y, reference(1, x), atol=ATOL)
            disk_is_clean(data, {v["sha256"] for v in vs})
        finally:
            server.stop()


def test_canary_share_and_sticky_routing_keys(tmp_path):
    data = cli_setup(tmp_path, 2, {"production": 1, "candidate": 2})
    server = Server(data, tmp_path / "server.log")
    try:
        traffic = server.api("PUT", f"/models/{NAME}/traffic", {"canary": {"alias": "candidate", "percent": 10}})
        assert traffic["canary"] == {"alias": "candidate", "percent": 10, "version": 2} and traffic.get("shadow") is None
        assert server.api("GET", f"/models/{NAME}/traffic") == traffic

        def send(jobs: list[str | None]) -> list[tuple[str | None, int]]:
            out, lock, errors = [], threading.Lock(), []

            def worker(part):
                conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
                x = np.array([[1, -2, 3, 1]], np.float32)
                for key in part:
                    h = {"Content-Type": "application/json", **({"x-berth-routing-key": key} if key else {})}
                    conn.request("POST", f"/v2/models/{NAME}/infer", infer_body(x), h)
                    r = conn.getresponse()
                    raw = r.read()
                    if r.status != 200:
                        errors.append(f"{r.status} {raw[:200]!r}")
                        continue
                    v, y = answer(raw)
                    if not np.allclose(y, reference(v, x), atol=ATOL):
                        errors.append(f"version {v} answered another version's output")
                    with lock:
                        out.append((key, v))
                conn.close()

            threads = [threading.Thread(target=worker, args=(jobs[k::8],)) for k in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert not errors, errors[:10]
            assert len(out) == len(jobs)
            return out

        plain = send([None] * 5000)
        share = sum(1 for _, v in plain if v == 2) / len(plain)
        keyed = send([f"user-{k}" for k in range(200)] * 3)
        by_key: dict[str, set[int]] = {}
        for key, v in keyed:
            by_key.setdefault(key, set()).add(v)
        flappy = {k: vs for k, vs in by_key.items() if len(vs) > 1}
        key_share = sum(1 for vs in by_key.values() if vs == {2}) / len(by_key)
        print(f"canary 10%: {share:.2%} of 5000 plain requests on v2; {key_share:.1%} of 200 keys on v2")
        assert 0.08 <= share <= 0.12
        assert not flappy, f"routing keys answered by both versions: {list(flappy)[:10]}"
        assert 0.02 <= key_share <= 0.25
        routed = {(s[0].get("version"), s[0].get("route")): s[1]
                  for s in berthpy.prometheus_samples(server.metrics(), "berth_routed_requests_total") if s[0].get("model") == NAME}
        assert routed.get(("2", "canary"), 0) >= 1 and routed.get(("1", "production"), 0) >= 1, routed
        assert server.api("PUT", f"/models/{NAME}/traffic", {"canary": None, "shadow": None}).get("canary") is None
        assert {v for _, v in send([None] * 40)} == {1}
        actions = [e["action"] for e in server.api("GET", f"/models/{NAME}/history")["events"]]
        assert actions.count("traffic") == 2
    finally:
        server.stop()


def test_shadow_answers_from_production_and_records_the_comparison(tmp_path):
    data = cli_setup(tmp_path, 2, {"production": 1, "shadow": 2})
    server = Server(data, tmp_path / "server.log")
    try:
        server.api("PUT", f"/models/{NAME}/traffic", {"shadow": {"alias": "shadow", "percent": 100}})
        rng = np.random.default_rng(3)
        agree, diffs = 0, []
        for _ in range(50):
            x = rng.integers(-3, 4, size=(1, IN)).astype(np.float32)
            status, v, y = infer(server, x)
            assert status == 200 and v == 1 and np.allclose(y, reference(1, x), atol=ATOL), (status, v)
            y2 = reference(2, x)
            agree += int(np.argmax(y, axis=1)[0] == np.argmax(y2, axis=1)[0])
            diffs.append(float(np.abs(y - y2).max()))
        assert 0 < agree < 50, "the test data has both agreeing and disagreeing requests"
        counts: dict[str, float] = {}
        deadline = time.time() + 10
        while time.time() < deadline:
            text = server.metrics()
            counts = {s[0].get("outcome"): s[1] for s in berthpy.prometheus_samples(text, "berth_shadow_requests_total")
                      if s[0].get("model") == NAME and s[0].get("version") == "2"}
            if sum(counts.values()) >= 50:
                break
            time.sleep(0.2)
        print(f"shadow outcomes {counts}; expected agree {agree}, disagree {50 - agree}")
        assert sum(counts.values()) >= 1, f"no berth_shadow_requests_total for {NAME} version 2:\n{text[-3000:]}"
        assert set(counts) <= {"agree", "disagree", "error", "dropped"} and counts.get("error", 0) == 0, counts
        assert sum(counts.values()) == 50
        if counts.get("dropped", 0) == 0:
            assert (counts.get("agree", 0), counts.get("disagree", 0)) == (agree, 50 - agree)
        hist = {n: [s for s in berthpy.prometheus_samples(text, f"berth_shadow_max_abs_diff_{n}")
                    if s[0].get("model") == NAME and s[0].get("version") == "2"] for n in ("count", "sum")}
        assert hist["count"] and hist["count"][0][1] >= 1, "berth_shadow_max_abs_diff has no observation"
        if counts.get("dropped", 0) == 0:
            assert hist["count"][0][1] == 50 and abs(hist["sum"][0][1] - sum(diffs)) <= 1e-3 * max(1, sum(diffs))
    finally:
        server.stop()


SPEC_ROUTES = [("get", "/api/v1/models"), ("get", "/api/v1/models/{}"), ("post", "/api/v1/models/{}/versions"),
               ("get", "/api/v1/models/{}/versions"), ("get", "/api/v1/models/{}/versions/{}"),
               ("get", "/api/v1/models/{}/versions/{}/artifact"), ("delete", "/api/v1/models/{}/versions/{}"),
               ("put", "/api/v1/models/{}/aliases/{}"), ("delete", "/api/v1/models/{}/aliases/{}"),
               ("post", "/api/v1/models/{}/promote"), ("post", "/api/v1/models/{}/rollback"),
               ("get", "/api/v1/models/{}/history"), ("get", "/api/v1/models/{}/traffic"),
               ("put", "/api/v1/models/{}/traffic")]


def test_admin_api_records_and_errors(tmp_path):
    data = tmp_path / "data"
    server = Server(data, tmp_path / "server.log")  # an empty registry serves nothing, but serves
    try:
        assert server.api("GET", "/models") == {"models": []}
        v1 = server.upload(1, metrics='{"accuracy":0.8}', tag="team=ml", param="C=1.0")
        v2 = server.upload(2, metrics='{"accuracy":0.93}', parent="1", reason="retrain")
        assert (v1["version"], v2["version"]) == (1, 2)
        assert v2["sha256"] == hashlib.sha256(model_bytes(2)).hexdigest() and v2["size"] == len(model_bytes(2))
        assert v2["signature"]["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, IN]}]
        assert v1["tags"] == {"team": "ml"} and v1["params"] == {"C": "1.0"} and v2["parent"] == 1
        assert v2["metrics"] == {"accuracy": 0.93} and v2["created_by"] == "api"
        ev = server.api("PUT", f"/models/{NAME}/aliases/production", {"version": 1, "reason": "first"},
                        headers={"x-berth-actor": "ana"})
        assert (ev["action"], ev["alias"], ev["to"], ev["actor"], ev["reason"]) == ("alias", "production", 1, "ana", "first")
        x = np.ones((1, IN), np.float32)
        assert infer(server, x)[:2] == (200, 1), "an alias set through the API is live when the call returns"
        status, hdrs, raw = server.request("GET", f"/api/v1/models/{NAME}/versions/production/artifact")
        assert status == 200 and raw == model_bytes(1)
        assert {k.lower(): v for k, v in hdrs.items()}["x-berth-sha256"] == v1["sha256"]
        assert server.api("GET", f"/models/{NAME}/versions/production")["version"] == 1

        state = lambda: (server.api("GET", f"/models/{NAME}"), server.api("GET", f"/models/{NAME}/versions"),
                         server.api("GET", f"/models/{NAME}/history"), files(data / "artifacts"))
        before = state()
        server.api("GET", "/models/nosuch", want=404)
        server.api("GET", "/models/nosuch/versions", want=404)
        server.api("POST", "/models/nosuch/promote", {"version": 1}, want=404)
        server.api("GET", f"/models/{NAME}/versions/nosuchalias", want=404)
        server.api("GET", f"/models/{NAME}/versions/99", want=404)
        server.api("PUT", f"/models/{NAME}/aliases/staging", {"version": 99}, want=404)
        server.api("DELETE", f"/models/{NAME}/aliases/nosuchalias", want=404)
        server.api("POST", f"/models/{NAME}/rollback", {"alias": "nosuchalias"}, want=404)
        err = server.api("POST", f"/models/{NAME}/promote", {"version": 2, "gates": ["accuracy>=0.95"]}, want=409)
        assert "accuracy" in err["error"]
        server.api("DELETE", f"/models/{NAME}/versions/1", want=409)
        for path, method in ((f"/models/{NAME}/promote", "POST"), (f"/models/{NAME}/aliases/staging", "PUT"),
                             (f"/models/{NAME}/traffic", "PUT")):
            server.api(method, path, b'{"version": 2,', want=400, headers={"Content-Type": "application/json"})
        server.api("PUT", f"/models/{NAME}/traffic", {"canary": {"alias": "nosuchalias", "percent": 10}}, want=404)
        server.api("PUT", f"/models/{NAME}/traffic", {"canary": {"alias": "production", "percent": 150}}, want=400)
        good = model_bytes(3)
        for body in (os.urandom(3000), b"", good[:len(good) // 2]):
            server.api("POST", f"/models/{NAME}/versions", body, want=400,
                       headers={"Content-Type": "application/octet-stream"})
        server.api("POST", f"/models/{NAME}/versions?metrics=%7Bnot-json", good, want=400)
        renamed = model_bytes(3, in_name="features")
        assert "signature" in server.api("POST", f"/models/{NAME}/versions", renamed, want=409)["error"].lower()
        assert state() == before, "refused calls changed the registry"
        assert files(data / "tmp") == set()
        assert infer(server, x)[:2] == (200, 1)
        v3 = server.api("POST", f"/models/{NAME}/versions?allow_signature_change=true", renamed, want=201)
        assert v3["version"] == 3 and v3["signature"]["inputs"][0]["name"] == "features"

        doc = server.api("GET", "/openapi.json")
        assert str(doc["openapi"]).startswith("3.1")
        have = {(m.lower(), re.sub(r"\{[^}]*\}", "{}", p)) for p, ops in doc["paths"].items() for m in ops
                if m.lower() in ("get", "put", "post", "delete", "patch")}
        assert not set(SPEC_ROUTES) - have, f"routes missing from openapi.json: {sorted(set(SPEC_ROUTES) - have)}"
        # Query strings as standard clients encode them (urlencode: space -> '+').
        v4 = server.upload(1, metrics=json.dumps({"accuracy": 0.9}), reason="two words")
        assert v4["metrics"] == {"accuracy": 0.9}
        assert server.api("GET", f"/models/{NAME}/history")["events"][-1]["reason"] == "two words"
    finally:
        server.stop()


def test_version_routes_and_changes_from_the_cli(tmp_path):
    data = cli_setup(tmp_path, 3, {"production": 1, "candidate": 2})
    server = Server(data, tmp_path / "server.log")
    x = np.array([[1, 2, -1, 0], [0, -3, 2, 1]], np.float32)
    try:
        for path, want in ((f"/v2/models/{NAME}/infer", 1), (f"/v2/models/{NAME}/versions/1/infer", 1),
                           (f"/v2/models/{NAME}/versions/2/infer", 2)):
            status, v, y = infer(server, x, path)
            assert (status, v) == (200, want) and np.allclose(y, reference(want, x), atol=ATOL), path
        status, _, not_aliased = infer(server, x, f"/v2/models/{NAME}/versions/3/infer")
        assert status == 404, (status, not_aliased)
        assert infer(server, x, f"/v2/models/{NAME}/versions/99/infer")[0] == 404
        routed = {(s[0].get("version"), s[0].get("route")) for s in
                  berthpy.prometheus_samples(server.metrics(), "berth_routed_requests_total") if s[0].get("model") == NAME}
        assert {("1", "production"), ("2", "version")} <= routed, routed
        # Another process changes the registry: the server follows within --poll-interval.
        cli(data, "alias", NAME, "staging", "3")
        cli(data, "promote", NAME, "2")
        deadline, got = time.time() + 5, None
        while time.time() < deadline:
            got = (infer(server, x)[:2], infer(server, x, f"/v2/models/{NAME}/versions/3/infer")[:2])
            if got == ((200, 2), (200, 3)):
                break
            time.sleep(0.1)
        assert got == ((200, 2), (200, 3)), got
        assert np.allclose(infer(server, x, f"/v2/models/{NAME}/versions/3/infer")[2], reference(3, x), atol=ATOL)
        status, _, err = infer(server, x, f"/v2/models/{NAME}/versions/1/infer")
        assert status == 404, "version 1 lost its alias and is no longer served"
        assert "alias" in not_aliased["error"].lower(), f"404 for an existing version gives no hint: {not_aliased}"
    finally:
        server.stop()


def test_serving_config_travels_with_the_version(tmp_path):
    """A version pushed with a serving configuration is served with it (Triton's /config shows it);
    a configuration the server could not use is refused at push time, by the API and the CLI."""
    data = cli_setup(tmp_path, 1, {"production": 1})
    bad = tmp_path / "bad.json"
    bad.write_text('{"max_batch_size": "many"}')
    (tmp_path / "m2.onnx").write_bytes(model_bytes(2))
    p = subprocess.run([str(berth_path()), "registry", "push", NAME, str(tmp_path / "m2.onnx"), "--config", str(bad),
                        "--data-dir", str(data)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "max_batch_size" in p.stderr, (p.returncode, p.stderr)
    server = Server(data, tmp_path / "server.log")
    try:
        assert server.api("GET", f"/models/{NAME}/versions/1")["serving_config"] is None
        assert server.api("GET", f"/models/{NAME}/versions/1") and \
            json.loads(server.request("GET", f"/v2/models/{NAME}/config")[2])["max_batch_size"] == 32
        refused = server.upload(2, want=400, config=json.dumps({"dynamic_batching": {"max_queue_delay_us": -5}}))
        assert "config" in refused["error"] or "delay" in refused["error"], refused
        assert [v["version"] for v in server.api("GET", f"/models/{NAME}/versions")["versions"]] == [1]
        config = {"max_batch_size": 4, "instance_count": 2, "threads": 1}
        pushed = server.upload(2, config=json.dumps(config))
        assert pushed["version"] == 2 and pushed["serving_config"] == config, pushed
        server.api("POST", f"/models/{NAME}/promote", {"version": 2})
        served = json.loads(server.request("GET", f"/v2/models/{NAME}/config")[2])
        assert served["max_batch_size"] == 4 and served["instance_group"][0]["count"] == 2, served
        x = np.ones((4, IN), np.float32)
        status, v, y = infer(server, x)
        assert (status, v) == (200, 2) and np.allclose(y, reference(2, x), atol=ATOL)
        status, _, err = infer(server, np.ones((5, IN), np.float32))
        assert status == 400 and "4" in err["error"], (status, err)
    finally:
        server.stop()


def test_openapi_document_is_valid_openapi_31(tmp_path):
    """The served document (Sources/BerthServer/Resources/openapi.json) passes a real OpenAPI 3.1 validator."""
    validate = pytest.importorskip("openapi_spec_validator").validate
    server = Server(tmp_path / "data", tmp_path / "server.log")
    try:
        doc = server.api("GET", "/openapi.json")
        validate(doc)
        source = Path(__file__).resolve().parents[2] / "Sources/BerthServer/Resources/openapi.json"
        assert doc == json.loads(source.read_text()), "the server serves the resource file as it is"
    finally:
        server.stop()
