"""Model life cycle of the real `berth serve`: hot reload under load and memory over load/unload.

- Hot reload: `--model-control poll` serves version 1 of a small MLP while client threads send
  requests in a loop; version 2 (different weights) is copied into the repository in chunks, so a
  half-written model.onnx sits there for several poll periods. No request may fail, every answer
  must match the version it names in `model_version`, and version 2 must take over.
- Memory: 50 load/unload cycles of the CNN from scripts/make_examples.py through the repository
  extension may grow the server's resident memory (VmRSS) by at most 20 MB.

The server binary is $BERTH_BIN, else .build/debug/berth, else .build/release/berth.
"""
from __future__ import annotations

import http.client
import importlib.util
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import berth_path
import berthpy
from onnx import TensorProto, helper, numpy_helper

REPO_ROOT = Path(__file__).resolve().parents[2]
ATOL = 1e-4
MAX_RSS_GROWTH_MB = 20


def _load_make_examples():
    path = REPO_ROOT / "scripts" / "make_examples.py"
    spec = importlib.util.spec_from_file_location("berth_make_examples", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


class Server:
    """`berth serve` on 127.0.0.1 and a free port; its log goes to a file (a pipe could fill up)."""

    def __init__(self, repo: Path, log: Path, *extra: str):
        self.port = berthpy.free_port()
        self.log_path = log
        self._log = open(log, "wb")
        self.proc = subprocess.Popen(
            [str(berth_path()), "serve", "--insecure-no-auth", "--model-repository", str(repo), "--port", str(self.port), *extra],
            stdout=self._log, stderr=subprocess.STDOUT,
        )
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"berth serve exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if self.request("GET", "/v2/health/ready")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        pytest.fail("berth serve did not become ready")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def request(self, method: str, path: str, body: dict | None = None, timeout: float = 60) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            data = json.dumps(body).encode() if body is not None else None
            conn.request(method, path, body=data, headers={"Content-Type": "application/json"} if data else {})
            r = conn.getresponse()
            return r.status, r.read()
        finally:
            conn.close()

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS line")

    def stop(self) -> None:
        berthpy.stop_process(self.proc)
        self._log.close()


# ---------------------------------------------------------------------------
# hot reload under load

IN, HIDDEN, OUT = 64, 256, 8


def _mlp_weights(version: int) -> list[np.ndarray]:
    rng = np.random.default_rng(1000 + version)
    return [
        (rng.standard_normal((IN, HIDDEN)) * 0.1).astype(np.float32),
        (rng.standard_normal((HIDDEN, OUT)) * 0.1).astype(np.float32),
        (rng.standard_normal(OUT) * 0.1).astype(np.float32),
    ]


def _mlp_model(version: int) -> bytes:
    w1, w2, b = _mlp_weights(version)
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "w1"], ["h"]),
            helper.make_node("Relu", ["h"], ["r"]),
            helper.make_node("MatMul", ["r", "w2"], ["m"]),
            helper.make_node("Add", ["m", "b"], ["y"]),
        ],
        f"reload_v{version}",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", IN])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", OUT])],
        initializer=[numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2"),
                     numpy_helper.from_array(b, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="berth-tests")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _mlp_reference(version: int, x: np.ndarray) -> np.ndarray:
    w1, w2, b = _mlp_weights(version)
    return np.maximum(x @ w1, 0) @ w2 + b


def _copy_slowly(data: bytes, dest: Path, chunks: int, pause: float) -> None:
    """Writes `data` to `dest` in `chunks` pieces, `pause` seconds apart (a slow `cp`)."""
    step = -(-len(data) // chunks)
    with open(dest, "wb") as f:
        for i in range(0, len(data), step):
            f.write(data[i:i + step])
            f.flush()
            os.fsync(f.fileno())
            time.sleep(pause)


def test_hot_reload_under_load_drops_no_request(tmp_path):
    repo = tmp_path / "repo"
    (repo / "mlp" / "1").mkdir(parents=True)
    (repo / "mlp" / "1" / "model.onnx").write_bytes(_mlp_model(1))
    v2 = _mlp_model(2)
    server = Server(repo, tmp_path / "server.log", "--model-control", "poll", "--poll-interval-ms", "100")
    # The two versions must be told apart by their outputs, not only by the label.
    probe = np.ones((1, IN), np.float32)
    assert np.abs(_mlp_reference(1, probe) - _mlp_reference(2, probe)).max() > 0.1

    failures: list[str] = []
    seen: list[list[str]] = []
    stop = threading.Event()
    lock = threading.Lock()

    def client(k: int) -> None:
        versions: list[str] = []
        with lock:
            seen.append(versions)
        rng = np.random.default_rng(k)
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        while not stop.is_set():
            x = rng.integers(-3, 4, size=(2, IN)).astype(np.float32)
            body = json.dumps({"inputs": [{"name": "x", "shape": [2, IN], "datatype": "FP32",
                                           "data": x.ravel().tolist()}]})
            try:
                conn.request("POST", "/v2/models/mlp/infer", body=body, headers={"Content-Type": "application/json"})
                r = conn.getresponse()
                payload = r.read()
            except (OSError, http.client.HTTPException) as e:
                with lock:
                    failures.append(f"client {k}: {type(e).__name__}: {e}")
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
                continue
            if r.status != 200:
                with lock:
                    failures.append(f"client {k}: HTTP {r.status}: {payload[:300]!r}")
                continue
            doc = json.loads(payload)
            version = doc.get("model_version")
            out = doc["outputs"][0]
            y = np.asarray(out["data"], np.float32).reshape(out["shape"])
            if version not in ("1", "2") or not np.allclose(y, _mlp_reference(int(version), x), atol=ATOL):
                with lock:
                    failures.append(f"client {k}: version {version!r} answered outputs of neither version")
            versions.append(version)
        conn.close()

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(4)]
    try:
        for t in threads:
            t.start()
        time.sleep(1.0)  # load on version 1 first
        (repo / "mlp" / "2").mkdir()
        # 8 pieces, 0.4 s apart: a truncated model.onnx stays unchanged for several poll periods.
        _copy_slowly(v2, repo / "mlp" / "2" / "model.onnx", chunks=8, pause=0.4)
        deadline = time.time() + 60
        while time.time() < deadline:
            with lock:
                done = all(v[-10:] == ["2"] * 10 for v in seen)
            if done:
                break
            time.sleep(0.1)
        stop.set()
        for t in threads:
            t.join(timeout=60)
        assert not failures, "\n".join(failures[:20])
        assert all(v and v[0] == "1" for v in seen), "version 1 served before the copy"
        assert all(v[-10:] == ["2"] * 10 for v in seen), "version 2 took over"
        for v in seen:
            # Each client sends one request at a time: once version 2 answered it, version 1 never does again.
            first2 = v.index("2")
            assert "1" not in v[first2:], "a client got version 1 after version 2"
        status, body = server.request("GET", "/v2/models/mlp")
        assert status == 200 and json.loads(body)["versions"] == ["2"]
        status, body = server.request("POST", "/v2/repository/index")
        index = {(e["name"], e.get("version")): e for e in json.loads(body)}
        assert index[("mlp", "2")]["state"] == "READY"
        assert index[("mlp", "1")]["state"] == "UNAVAILABLE"
        # Version 1's metric series went with it; nothing is left pending.
        status, body = server.request("GET", "/metrics")
        text = body.decode()
        assert 'berth_inference_requests_total{model="mlp",version="2",outcome="success",reason=""}' in text
        assert 'model="mlp",version="1"' not in text
        assert 'berth_inference_pending_requests{model="mlp",version="2"} 0.0' in text
    finally:
        stop.set()
        server.stop()
    total = sum(len(v) for v in seen)
    print(f"hot reload: {total} requests, {sum(v.count('2') for v in seen)} answered by version 2")


# ---------------------------------------------------------------------------
# memory over load/unload cycles


def test_load_unload_cycles_do_not_grow_memory(tmp_path):
    mk = _load_make_examples()
    repo = tmp_path / "repo"
    mk.build_cnn(repo / "cnn" / "1" / "model.onnx")
    server = Server(repo, tmp_path / "server.log", "--model-control", "explicit")
    x = np.random.default_rng(0).random((1, 1, 28, 28), dtype=np.float32)
    request = {"inputs": [{"name": "x", "shape": [1, 1, 28, 28], "datatype": "FP32", "data": x.ravel().tolist()}]}

    def cycle() -> None:
        status, body = server.request("POST", "/v2/repository/models/cnn/load")
        assert status == 200, body
        status, body = server.request("POST", "/v2/models/cnn/infer", request)
        assert status == 200, body
        assert json.loads(body)["model_version"] == "1"
        status, body = server.request("POST", "/v2/repository/models/cnn/unload")
        assert status == 200, body

    try:
        for _ in range(5):  # warm-up: allocator arenas, thread stacks, first-use caches
            cycle()
        before = server.rss_kb()
        for _ in range(50):
            cycle()
        after = server.rss_kb()
        growth_mb = (after - before) / 1024
        print(f"VmRSS after 5 warm-up cycles {before / 1024:.1f} MB, after 50 more {after / 1024:.1f} MB "
              f"(growth {growth_mb:+.1f} MB)")
        assert growth_mb <= MAX_RSS_GROWTH_MB, f"resident memory grew by {growth_mb:.1f} MB over 50 load/unload cycles"
        status, body = server.request("GET", "/metrics")
        assert 'model="cnn"' not in body.decode(), "an unloaded model keeps no metric series"
    finally:
        server.stop()
