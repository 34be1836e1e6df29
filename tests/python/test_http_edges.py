"""HTTP framing, limits and hostile requests against the real `berth serve --demo`, over raw sockets.

Each request here once took the server down or answered 500 (found by fuzzing the release build):
a binary input declaring `binary_data_size` near Int64.max (arithmetic overflow trap), a BYTES
input of shape [2^31] with one element (a 32 GiB reserve), a malformed chunked body or
`Transfer-Encoding: gzip` (500, counted as an internal error). Also: slow-loris and idle
connections are closed by the header and idle timeouts, the Host header is checked, cross-site
browser requests that would change something are refused, and the access log has one line per
inference request.
"""
from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path

import pytest
from conftest import berth_path
import berthpy

REPO = Path(__file__).resolve().parents[2]

HEADER_TIMEOUT = 1.0
IDLE_TIMEOUT = 2.0
BODY_TIMEOUT = 3.0


def make_repository(root: Path) -> Path:
    """digits (the bundled MLP), `pair` (y = a + b, two FP32 [N] inputs: a second binary input can
    declare a size past the first) and `text` (y = Identity(s), a BYTES [N] input)."""
    from onnx import TensorProto, helper
    repo = root / "repo"
    (repo / "digits" / "1").mkdir(parents=True)
    (repo / "digits" / "1" / "model.onnx").symlink_to(REPO / "examples" / "digits_mlp.onnx")
    def vi(name, t):
        return helper.make_tensor_value_info(name, t, ["N"])
    models = {
        "pair": helper.make_graph([helper.make_node("Add", ["a", "b"], ["y"])], "pair",
                                  [vi("a", TensorProto.FLOAT), vi("b", TensorProto.FLOAT)], [vi("y", TensorProto.FLOAT)]),
        "text": helper.make_graph([helper.make_node("Identity", ["s"], ["y"])], "text",
                                  [vi("s", TensorProto.STRING)], [vi("y", TensorProto.STRING)]),
    }
    for name, graph in models.items():
        (repo / name / "1").mkdir(parents=True)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
        (repo / name / "1" / "model.onnx").write_bytes(model.SerializeToString())
    return repo


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = berthpy.free_port()
    root = tmp_path_factory.mktemp("edges")
    repo = make_repository(root)
    log = root / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(berth_path()), "serve", "--insecure-no-auth", "--model-repository", str(repo), "--port", str(port),
                                 "--header-timeout", str(HEADER_TIMEOUT), "--idle-timeout", str(IDLE_TIMEOUT),
                                 "--body-timeout", str(BODY_TIMEOUT)],
                                stdout=out, stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    while time.time() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            if raw(port, b"GET /v2/health/ready HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")[0] == 200:
                break
        except OSError:
            pass
        time.sleep(0.1)
    yield port, proc
    berthpy.stop_process(proc)
    assert proc.returncode == 0, log.read_text()


def raw(port: int, data: bytes, timeout: float = 10.0) -> tuple[int, dict, bytes]:
    """Sends `data` as is, reads one response (Content-Length framed) and closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed without a response: {buf!r}")
            buf += chunk
        head, _, body = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:])}
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            chunk = s.recv(65536)
            if not chunk:
                break
            body += chunk
        return status, headers, body


def post(port: int, path: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, dict, bytes]:
    h = {"Host": "127.0.0.1", "Content-Type": "application/json", "Content-Length": str(len(body)), **(headers or {})}
    head = f"POST {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items() if v is not None) + "\r\n"
    return raw(port, head.encode() + body)


def internal_errors(port: int) -> float:
    status, _, body = raw(port, b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert status == 200
    samples = berthpy.prometheus_samples(body.decode(), "berth_inference_requests_total")
    return sum(v for labels, v in samples if labels.get("reason") == "internal")


def zero_request(port: int) -> tuple[int, dict, bytes]:
    body = json.dumps({"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 64], "data": [0.0] * 64}]}).encode()
    return post(port, "/v2/models/digits/infer", body)


def assert_alive(port: int, proc) -> None:
    assert proc.poll() is None, "the server died"
    status, _, body = zero_request(port)
    assert status == 200, body


def binary_post(port: int, model: str, inputs: list[dict], tail: bytes) -> tuple[int, dict, bytes]:
    header = json.dumps({"inputs": inputs}).encode()
    return post(port, f"/v2/models/{model}/infer", header + tail,
                {"Inference-Header-Content-Length": str(len(header)), "Content-Type": "application/octet-stream"})


def test_binary_size_near_int64_max_answers_400(server):
    port, proc = server
    # The second input's size was added to the first's offset: a trap (the server died) on overflow.
    for size in (2**63 - 1, 2**63 - 4, 2**62 + 1):
        status, _, body = binary_post(port, "pair", [
            {"name": "a", "datatype": "FP32", "shape": [1], "parameters": {"binary_data_size": 4}},
            {"name": "b", "datatype": "FP32", "shape": [1], "parameters": {"binary_data_size": size}},
        ], bytes(8))
        assert status == 400 and b"exceeds" in body, body
    assert_alive(port, proc)


def test_huge_bytes_shape_answers_400_without_reserving(server):
    port, proc = server
    # Shape [2^31] with one element reserved 32 GiB for the strings before counting them (an abort).
    body = json.dumps({"inputs": [{"name": "s", "datatype": "BYTES", "shape": [2147483648], "data": ["x"]}]}).encode()
    status, _, answer = post(port, "/v2/models/text/infer", body)
    assert status == 400 and b"needs 2147483648 elements" in answer, answer
    # The binary form: an 83-byte request in the report.
    status, _, answer = binary_post(port, "text", [{"name": "s", "datatype": "BYTES", "shape": [2147483648],
                                                    "parameters": {"binary_data_size": 5}}], b"\x01\x00\x00\x00x")
    assert status == 400, answer
    # Numeric shapes too, JSON and binary.
    body = json.dumps({"inputs": [{"name": "a", "datatype": "FP32", "shape": [2147483648], "data": [1.0]},
                                  {"name": "b", "datatype": "FP32", "shape": [1], "data": [1.0]}]}).encode()
    status, _, answer = post(port, "/v2/models/pair/infer", body)
    assert status == 400, answer
    status, _, answer = binary_post(port, "digits", [{"name": "input", "datatype": "FP32", "shape": [33554432, 64],
                                                      "parameters": {"binary_data_size": 4}}], bytes(4))
    assert status == 400, answer
    assert_alive(port, proc)


def test_malformed_chunked_body_answers_400_not_500(server):
    port, proc = server
    before = internal_errors(port)
    head = (b"POST /v2/models/digits/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")
    status, _, body = raw(port, head + b"zz\r\n{}\r\n0\r\n\r\n")
    assert status == 400, body
    gzip = (b"POST /v2/models/digits/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: gzip\r\n\r\n{}")
    status, _, body = raw(port, gzip)
    assert status == 400, body
    assert internal_errors(port) == before
    assert_alive(port, proc)


def closed_within(port: int, first: bytes, seconds: float) -> float:
    """Sends `first`, then waits for the server to close; returns how long it took."""
    with socket.create_connection(("127.0.0.1", port), timeout=seconds + 5) as s:
        start = time.monotonic()
        s.sendall(first)
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
        return time.monotonic() - start


def test_slow_headers_are_cut_off_by_the_header_timeout(server):
    port, proc = server
    took = closed_within(port, b"POST /v2/models/digits/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ", HEADER_TIMEOUT)
    assert HEADER_TIMEOUT * 0.8 <= took < HEADER_TIMEOUT + 4, took
    assert_alive(port, proc)


def test_idle_connections_are_closed_by_the_idle_timeout(server):
    port, proc = server
    # One complete request, then nothing: the connection is kept alive until the idle timeout.
    took = closed_within(port, b"GET /v2/health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", IDLE_TIMEOUT)
    assert IDLE_TIMEOUT * 0.8 <= took < IDLE_TIMEOUT + 4, took
    assert_alive(port, proc)


def test_a_trickled_body_gets_408_at_the_body_timeout(server):
    """A byte every 0.5 s never trips the idle timeout (2 s); the body deadline (3 s) answers 408."""
    port, proc = server
    import socket
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    start = time.monotonic()
    s.sendall(b"POST /v2/models/digits/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
              b"Content-Length: 1000\r\n\r\n{")
    s.setblocking(False)
    answer = b""
    while time.monotonic() - start < BODY_TIMEOUT + 6:
        try:
            chunk = s.recv(4096)
            if not chunk:
                break
            answer += chunk
            if b"\r\n\r\n" in answer:
                break
        except BlockingIOError:
            try:
                s.send(b" ")
            except OSError:
                break
            time.sleep(0.5)
    took = time.monotonic() - start
    s.close()
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert BODY_TIMEOUT * 0.8 <= took < BODY_TIMEOUT + 4, took
    assert_alive(port, proc)


def test_host_header_is_checked(server):
    port, proc = server
    status, _, body = raw(port, b"GET /v2 HTTP/1.1\r\n\r\n")
    assert status == 400 and b"Host" in body, body
    # Bound to loopback, the server answers loopback names only (a DNS-rebinding page is refused).
    status, _, body = raw(port, b"GET /v2 HTTP/1.1\r\nHost: attacker.example:8000\r\n\r\n")
    assert status == 421, body
    for host in (b"localhost:1", b"127.0.0.1", b"[::1]:8000"):
        status, _, body = raw(port, b"GET /v2 HTTP/1.1\r\nHost: " + host + b"\r\n\r\n")
        assert status == 200, (host, body)
    assert_alive(port, proc)


def test_cross_site_browser_requests_are_refused(server):
    port, proc = server
    body = json.dumps({"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 64], "data": [0.0] * 64}]}).encode()
    path = "/v2/models/digits/infer"
    # What a page on another site makes a browser send: an Origin, or Sec-Fetch-Site, with or
    # without a Content-Type (no-cors fetches send none and need no preflight).
    for headers in ({"Origin": "https://attacker.example", "Content-Type": "text/plain"},
                    {"Origin": "https://attacker.example", "Content-Type": None},
                    {"Origin": "null"},
                    {"Sec-Fetch-Site": "cross-site", "Content-Type": None},
                    {"Origin": f"http://127.0.0.1:{port}", "Sec-Fetch-Site": "same-site"}):
        status, _, answer = post(port, path, body, headers)
        assert status == 403, (headers, answer)
    status, _, answer = post(port, "/v2/repository/models/digits/unload", b"", {"Origin": "https://attacker.example"})
    assert status == 403, answer
    # The server's own pages, and clients that are not browsers (curl -d sends a form type), pass.
    for headers in ({"Origin": f"http://127.0.0.1:{port}", "Sec-Fetch-Site": "same-origin"},
                    {"Content-Type": "application/x-www-form-urlencoded"}, {"Content-Type": None}):
        status, _, answer = post(port, path, body, headers)
        assert status == 200, (headers, answer)
    assert_alive(port, proc)


def test_compressed_bodies_are_refused_with_415(server):
    port, proc = server
    status, _, answer = post(port, "/v2/models/digits/infer", b"\x1f\x8b\x08\x00", {"Content-Encoding": "gzip"})
    assert status == 415, answer
    assert_alive(port, proc)


def test_access_log_counts_exactly_the_requests(tmp_path):
    port = berthpy.free_port()
    log_path = tmp_path / "access.jsonl"
    repo = make_repository(tmp_path)
    proc = subprocess.Popen([str(berth_path()), "serve", "--insecure-no-auth", "--model-repository", str(repo), "--port", str(port),
                             "--access-log", str(log_path)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if raw(port, b"GET /v2/health/ready HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        good = json.dumps({"id": "r-ok", "inputs": [{"name": "input", "datatype": "FP32", "shape": [2, 64],
                                                     "data": [0.0] * 128}]}).encode()
        bad = json.dumps({"id": "r-bad", "inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 3], "data": [0, 0, 0]}]}).encode()
        for _ in range(5):
            assert post(port, "/v2/models/digits/infer", good)[0] == 200
        for _ in range(3):
            assert post(port, "/v2/models/digits/infer", bad)[0] == 400
        assert post(port, "/v2/models/nope/infer", good)[0] == 404
    finally:
        berthpy.stop_process(proc)
    lines = [json.loads(l) for l in log_path.read_text().splitlines()]
    assert len(lines) == 9, lines
    ok = [l for l in lines if l["status"] == 200]
    assert len(ok) == 5 and all(l["id"] == "r-ok" and l["rows"] == 2 and l["model"] == "digits" and l["version"] == "1"
                                and l["compute_ms"] >= 0 and l["total_ms"] >= l["compute_ms"] for l in ok), ok
    assert sum(l["status"] == 400 and "does not match" in l["error"] for l in lines) == 3, lines
    assert sum(l["status"] == 404 and l["model"] == "nope" for l in lines) == 1, lines


def test_port_in_use_is_named_before_models_load(server, tmp_path):
    port, proc = server
    repo = make_repository(tmp_path)
    out = subprocess.run([str(berth_path()), "serve", "--insecure-no-auth", "--model-repository", str(repo), "--port", str(port)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2, out.stderr
    assert f"127.0.0.1:{port}" in out.stderr and "in use" in out.stderr, out.stderr
    assert "loading model" not in out.stderr, out.stderr  # said before any model loads
    assert_alive(port, proc)
