"""Protocol-exact health through KServe's own Python SDK (kserve.InferenceRESTClient and
InferenceGRPCClient) and tritonclient: Triton's strict readiness (the server is not ready while a
model of the repository failed to load; `--strict-readiness false` turns it off), liveness,
model metadata and inference over REST and gRPC, compared with ONNX Runtime.

KServe's REST client raises on a non-2xx readiness answer (the V2 spec says 4xx means false; Triton
answers 400), its gRPC client returns `ready: false`: both are checked. The kserve SDK runs in
kserve_probe.py, a process of its own (its protobuf module and tritonclient.grpc's clash)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

import berthpy
from conftest import berth_path

import httpx  # noqa: E402
import tritonclient.grpc as grpcclient  # noqa: E402
import tritonclient.http as httpclient  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
DIGITS = REPO_ROOT / "examples" / "digits_mlp.onnx"
SAMPLE = REPO_ROOT / "examples" / "digits_sample.npy"
PROBE = Path(__file__).resolve().parent / "kserve_probe.py"


def _probe(*args: str) -> str:
    r = subprocess.run([sys.executable, str(PROBE), *args], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


class Server:
    """`berth serve` on free REST and gRPC ports; `loaded` is set once startup loading finished
    (the 'models loaded' log line), so readiness is read after the server decided it."""

    def __init__(self, repo: Path, *extra: str):
        self.port, self.grpc_port = berthpy.free_port(), berthpy.free_port()
        self.proc = subprocess.Popen(
            [str(berth_path()), "serve", "--insecure-no-auth", "--model-repository", str(repo), "--port", str(self.port),
             "--grpc-port", str(self.grpc_port), *extra],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self.loaded = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        if not self.loaded.wait(120):
            self.stop()
            pytest.fail("berth serve did not finish loading:\n" + "".join(self.lines))
        # The HTTP listener may report a moment after the loader: wait for it to answer.
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                if httpx.get(f"{self.url}/v2/health/live", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line)
            if "models loaded" in line:
                self.loaded.set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def grpc_url(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def stop(self):
        berthpy.stop_process(self.proc)


def _repo(tmp: Path, broken: bool) -> Path:
    (tmp / "digits" / "1").mkdir(parents=True)
    shutil.copy(DIGITS, tmp / "digits" / "1" / "model.onnx")
    if broken:
        (tmp / "broken" / "1").mkdir(parents=True)
        (tmp / "broken" / "1" / "model.onnx").write_bytes(b"this is not an ONNX model")
    return tmp


def _kserve_ready(server: Server) -> tuple:
    """(REST ready, REST live, gRPC ready, gRPC live) as the kserve SDK reports them; a REST
    readiness the SDK refuses to read (it raises on 4xx) is its status code."""
    return tuple(json.loads(_probe("health", server.url, server.grpc_url)))


def test_strict_readiness_until_the_failed_model_is_unloaded(tmp_path):
    server = Server(_repo(tmp_path, broken=True), "--model-control", "explicit", "--load-model", "*")
    try:
        # Triton's answer: 400 with the V2 body, which KServe's pydantic model reads.
        r = httpx.get(f"{server.url}/v2/health/ready")
        assert r.status_code == 400
        assert r.json() == {"ready": False}
        assert _kserve_ready(server) == (400, True, False, True)
        h, g = httpclient.InferenceServerClient(f"127.0.0.1:{server.port}"), grpcclient.InferenceServerClient(server.grpc_url)
        assert not h.is_server_ready() and not g.is_server_ready()
        assert h.is_server_live() and g.is_server_live()
        # The good model serves meanwhile; the broken one is listed with its reason.
        assert h.is_model_ready("digits") and not h.is_model_ready("broken")
        broken = [m for m in h.get_model_repository_index() if m["name"] == "broken"]
        assert broken and broken[0]["state"] == "UNAVAILABLE" and broken[0]["reason"]
        # Unloading the failed model (no longer wanted) makes the server ready again.
        h.unload_model("broken")
        assert _kserve_ready(server) == (True, True, True, True)
        assert h.is_server_ready() and g.is_server_ready()
        # Loading it again fails again: not ready.
        with pytest.raises(Exception):
            h.load_model("broken")
        assert not g.is_server_ready()
    finally:
        server.stop()


def test_strict_readiness_false_is_ready_despite_a_failed_model(tmp_path):
    server = Server(_repo(tmp_path, broken=True), "--strict-readiness", "false")
    try:
        assert _kserve_ready(server) == (True, True, True, True)
    finally:
        server.stop()


def test_kserve_sdk_metadata_and_infer_over_rest_and_grpc(tmp_path):
    server = Server(_repo(tmp_path, broken=False))
    x = np.load(SAMPLE).astype(np.float32)[:5]
    np.save(tmp_path / "x.npy", x)
    label, probs = ort.InferenceSession(str(DIGITS), providers=["CPUExecutionProvider"]).run(
        ["label", "probabilities"], {"input": x})
    try:
        assert _kserve_ready(server) == (True, True, True, True)
        meta = json.loads(_probe("infer", server.url, server.grpc_url, "digits", str(tmp_path / "x.npy"), str(tmp_path / "out.npz")))
        got = np.load(tmp_path / "out.npz")
        for kind in ("rest_False", "rest_True", "grpc"):
            np.testing.assert_array_equal(got[f"{kind}_label"].reshape(-1), label.reshape(-1), err_msg=kind)
            np.testing.assert_allclose(got[f"{kind}_probabilities"], probs, rtol=1e-5, atol=1e-6, err_msg=kind)
        for side in ("rest", "grpc"):
            assert meta[side] == {"name": "digits", "versions": ["1"], "inputs": [["input", "FP32", [-1, 64]]],
                                  "outputs": ["label", "probabilities"]}, side
    finally:
        server.stop()


def test_strict_readiness_covers_registry_models(tmp_path):
    """A registry model whose production version cannot load (its stored artifact was damaged)
    makes the server not ready, as a repository model does; `--strict-readiness false` is ready."""
    data = tmp_path / "data"
    b = str(berth_path())
    subprocess.run([b, "registry", "push", "digits", str(DIGITS), "--data-dir", str(data)], check=True, capture_output=True)
    subprocess.run([b, "registry", "promote", "digits", "1", "--data-dir", str(data)], check=True, capture_output=True)
    artifacts = [p for p in (data / "artifacts").rglob("*.onnx")]
    assert len(artifacts) == 1
    artifacts[0].chmod(0o644)
    artifacts[0].write_bytes(b"damaged on disk")
    for extra, ready in (((), 400), (("--strict-readiness", "false"), 200)):
        port = berthpy.free_port()
        proc = subprocess.Popen([b, "serve", "--registry", "--insecure-no-auth", "--data-dir", str(data), "--port", str(port),
                                 "--grpc-port", "0", *extra], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        try:
            deadline, status = time.time() + 60, None
            while time.time() < deadline:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/v2/health/live", timeout=2).status_code == 200:
                        # Startup loading is over once the deployer tried the model: readiness settles.
                        time.sleep(1.0)
                        status = httpx.get(f"http://127.0.0.1:{port}/v2/health/ready", timeout=2).status_code
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            assert status == ready, extra
            assert httpx.get(f"http://127.0.0.1:{port}/v2/models/digits/ready", timeout=2).status_code != 200
        finally:
            berthpy.stop_process(proc)
