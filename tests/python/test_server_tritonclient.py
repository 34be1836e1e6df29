"""Drive `berth serve` with NVIDIA's tritonclient (HTTP) and compare with ONNX Runtime.

Starts `$BERTH_BIN serve --model-repository <tmp> --model-control explicit --load-model '*'` on a
free port, then checks health, metadata, JSON and binary inference, requested outputs, async
inference, repository load/unload, error statuses, robustness against 1,000 malformed requests,
and graceful shutdown on SIGTERM. Float outputs must match ORT within ATOL.
"""
from __future__ import annotations

import http.client
import json
import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from conftest import berth_path
import berthpy
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

REPO_ROOT = Path(__file__).resolve().parents[2]
DIGITS = REPO_ROOT / "examples" / "digits_mlp.onnx"
ATOL = 1e-5


def _start(repo: Path | None, *extra: str) -> tuple[subprocess.Popen, str]:
    port = berthpy.free_port()
    source = ["--model-repository", str(repo)] if repo is not None else ["--demo"]
    proc = subprocess.Popen(
        [str(berth_path()), "serve", "--insecure-no-auth", *source, "--port", str(port), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    url = f"127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        if proc.poll() is not None:
            out = proc.stdout.read().decode(errors="replace")
            pytest.fail(f"berth serve exited with {proc.returncode}:\n{out}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/v2/health/ready")
            if conn.getresponse().status == 200:
                return proc, url
        except OSError:
            pass
        time.sleep(0.1)
    proc.kill()
    pytest.fail("berth serve did not become ready")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    repo = tmp_path_factory.mktemp("repo")
    for name in ("digits", "digits_b"):
        (repo / name / "1").mkdir(parents=True)
        shutil.copy(DIGITS, repo / name / "1" / "model.onnx")
    (repo / "digits" / "config.json").write_text(json.dumps(
        {"max_batch_size": 16, "dynamic_batching": {"max_queue_delay_us": 2000}}))
    proc, url = _start(repo, "--model-control", "explicit", "--load-model", "*")
    yield url
    berthpy.stop_process(proc)


@pytest.fixture(scope="module")
def client(server):
    c = httpclient.InferenceServerClient(url=server, concurrency=8)
    yield c
    c.close()


@pytest.fixture(scope="module")
def ort_session():
    return ort.InferenceSession(str(DIGITS), providers=["CPUExecutionProvider"])


def _inputs(rng: np.random.Generator, rows: int) -> np.ndarray:
    return rng.integers(0, 17, size=(rows, 64)).astype(np.float32)


def _ort(sess, x):
    label, probs = sess.run(["label", "probabilities"], {"input": x})
    return label, probs


def test_health_and_metadata(client):
    assert client.is_server_live()
    assert client.is_server_ready()
    meta = client.get_server_metadata()
    assert meta["name"] == "berth"
    assert "binary_tensor_data" in meta["extensions"]
    assert client.is_model_ready("digits")
    assert client.is_model_ready("digits", "1")
    assert not client.is_model_ready("nope")
    m = client.get_model_metadata("digits")
    assert m["name"] == "digits" and m["versions"] == ["1"]
    assert m["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 64]}]
    assert [o["name"] for o in m["outputs"]] == ["label", "probabilities"]
    cfg = client.get_model_config("digits")
    assert cfg["max_batch_size"] == 16


@pytest.mark.parametrize("binary", [False, True])
def test_infer_matches_onnxruntime(client, ort_session, binary):
    rng = np.random.default_rng(1 if binary else 2)
    x = _inputs(rng, 5)
    inp = httpclient.InferInput("input", list(x.shape), "FP32")
    inp.set_data_from_numpy(x, binary_data=binary)
    outs = [httpclient.InferRequestedOutput("probabilities", binary_data=binary),
            httpclient.InferRequestedOutput("label", binary_data=binary)]
    res = client.infer("digits", [inp], outputs=outs, request_id="abc")
    label, probs = _ort(ort_session, x)
    np.testing.assert_allclose(res.as_numpy("probabilities"), probs, atol=ATOL)
    np.testing.assert_array_equal(res.as_numpy("label"), label)
    r = res.get_response()
    assert r["id"] == "abc" and r["model_version"] == "1"


def test_default_outputs_are_binary_and_requested_outputs_filter(client, ort_session):
    x = _inputs(np.random.default_rng(3), 2)
    inp = httpclient.InferInput("input", list(x.shape), "FP32")
    inp.set_data_from_numpy(x, binary_data=True)
    res = client.infer("digits", [inp])  # no outputs: tritonclient sets binary_data_output
    label, probs = _ort(ort_session, x)
    np.testing.assert_allclose(res.as_numpy("probabilities"), probs, atol=ATOL)
    res = client.infer("digits", [inp], outputs=[httpclient.InferRequestedOutput("label", binary_data=False)])
    assert [o["name"] for o in res.get_response()["outputs"]] == ["label"]
    assert res.as_numpy("probabilities") is None
    np.testing.assert_array_equal(res.as_numpy("label"), label)


def test_async_infer_each_gets_its_own_rows(client, ort_session):
    rng = np.random.default_rng(4)
    xs = [_inputs(rng, 1) for _ in range(32)]
    pending = []
    for x in xs:
        inp = httpclient.InferInput("input", list(x.shape), "FP32")
        inp.set_data_from_numpy(x, binary_data=True)
        pending.append(client.async_infer("digits", [inp]))
    for x, p in zip(xs, pending):
        res = p.get_result()
        _, probs = _ort(ort_session, x)
        np.testing.assert_allclose(res.as_numpy("probabilities"), probs, atol=ATOL)
    stats = client.get_inference_statistics("digits")["model_stats"][0]
    assert stats["inference_count"] >= 32
    assert stats["execution_count"] <= stats["inference_count"]


def test_repository_load_unload(client):
    index = {e["name"]: e for e in client.get_model_repository_index()}
    assert index["digits_b"]["state"] == "READY"
    client.unload_model("digits_b")
    assert not client.is_model_ready("digits_b")
    with pytest.raises(InferenceServerException) as e:
        x = np.zeros((1, 64), np.float32)
        inp = httpclient.InferInput("input", [1, 64], "FP32")
        inp.set_data_from_numpy(x)
        client.infer("digits_b", [inp])
    assert e.value.status() == "503"
    client.load_model("digits_b")
    assert client.is_model_ready("digits_b")
    with pytest.raises(InferenceServerException) as e:
        client.load_model("does_not_exist")
    assert e.value.status() == "404"


def test_errors(client):
    inp = httpclient.InferInput("input", [1, 63], "FP32")
    inp.set_data_from_numpy(np.zeros((1, 63), np.float32))
    with pytest.raises(InferenceServerException) as e:
        client.infer("digits", [inp])
    assert e.value.status() == "400" and "shape" in e.value.message()
    inp = httpclient.InferInput("input", [1, 64], "FP64")
    inp.set_data_from_numpy(np.zeros((1, 64), np.float64))
    with pytest.raises(InferenceServerException) as e:
        client.infer("digits", [inp])
    assert e.value.status() == "400" and "datatype" in e.value.message()
    inp = httpclient.InferInput("pixels", [1, 64], "FP32")
    inp.set_data_from_numpy(np.zeros((1, 64), np.float32))
    with pytest.raises(InferenceServerException) as e:
        client.infer("digits", [inp])
    assert e.value.status() == "400" and "unknown input 'pixels'" in e.value.message()
    with pytest.raises(InferenceServerException) as e:
        client.infer("nope", [inp])
    assert e.value.status() == "404"


def test_malformed_requests_keep_the_server_alive(server, client, ort_session):
    host, port = server.split(":")
    valid = json.dumps({"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32", "data": [0.5] * 64}]}).encode()
    rng = random.Random(1234)
    statuses = set()
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    for i in range(1000):
        body = bytearray(valid)
        kind = i % 4
        if kind == 0:  # random byte edits
            for _ in range(rng.randint(1, 8)):
                body[rng.randrange(len(body))] = rng.randrange(256)
        elif kind == 1:  # truncation
            body = body[: rng.randrange(len(body))]
        elif kind == 2:  # random garbage
            body = bytearray(rng.randbytes(rng.randint(0, 300)))
        else:  # structurally valid JSON with wrong fields
            doc = json.loads(valid)
            field = rng.choice(["shape", "datatype", "data", "name"])
            doc["inputs"][0][field] = rng.choice([None, -1, "x", [1, 2, 3], {"a": 1}, [[[]]], 3.5])
            body = bytearray(json.dumps(doc).encode())
        headers = {"Content-Type": "application/json"}
        if rng.random() < 0.2:
            headers["Inference-Header-Content-Length"] = str(rng.randint(-5, len(body) + 5))
        try:
            conn.request("POST", "/v2/models/digits/infer", body=bytes(body), headers=headers)
            resp = conn.getresponse()
            payload = resp.read()
            statuses.add(resp.status)
            if resp.status != 200:
                assert resp.status in (400, 404, 413), resp.status
                assert "error" in json.loads(payload)
        except (http.client.HTTPException, ConnectionError):
            conn.close()
            conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.close()
    assert 400 in statuses
    assert client.is_server_live()
    x = _inputs(np.random.default_rng(5), 1)
    inp = httpclient.InferInput("input", [1, 64], "FP32")
    inp.set_data_from_numpy(x)
    res = client.infer("digits", [inp])
    np.testing.assert_allclose(res.as_numpy("probabilities"), _ort(ort_session, x)[1], atol=ATOL)


def test_sigterm_exits_zero_after_in_flight_requests(tmp_path):
    (tmp_path / "digits" / "1").mkdir(parents=True)
    shutil.copy(DIGITS, tmp_path / "digits" / "1" / "model.onnx")
    proc, url = _start(tmp_path)
    c = httpclient.InferenceServerClient(url=url, concurrency=4)
    inp = httpclient.InferInput("input", [1, 64], "FP32")
    inp.set_data_from_numpy(np.ones((1, 64), np.float32))
    pending = [c.async_infer("digits", [inp]) for _ in range(8)]
    proc.send_signal(signal.SIGTERM)
    for p in pending:
        try:
            p.get_result()
        except Exception:  # noqa: BLE001 - requests sent after the listener closed may be refused; none may hang
            pass
    assert proc.wait(timeout=30) == 0
    c.close()


def test_demo_serves_the_bundled_digits_model(ort_session):
    proc, url = _start(None)
    try:
        c = httpclient.InferenceServerClient(url=url)
        assert c.is_model_ready("digits", "1")
        x = _inputs(np.random.default_rng(6), 3)
        inp = httpclient.InferInput("input", [3, 64], "FP32")
        inp.set_data_from_numpy(x, binary_data=True)
        res = c.infer("digits", [inp])
        np.testing.assert_allclose(res.as_numpy("probabilities"), _ort(ort_session, x)[1], atol=ATOL)
        c.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0


def test_classic_ml_models_over_tritonclient(tmp_path):
    """scikit-learn models with string inputs, string labels and a ZipMap, served and queried with
    tritonclient (JSON and binary BYTES), match ONNX Runtime: labels exactly, scores within ATOL."""
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import StringTensorType
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.default_rng(7)
    colors = np.array(["red", "green", "blue", "ünïcødé"])
    x = np.stack([rng.choice(colors, 300), rng.choice(["s", "m", "l"], 300)], axis=1)
    y = np.where(x[:, 0] == "red", "hot", np.where(x[:, 1] == "l", "big", "other"))
    pipe = make_pipeline(OneHotEncoder(handle_unknown="ignore"), LogisticRegression(max_iter=500)).fit(x, y)
    model = to_onnx(pipe, initial_types=[("input", StringTensorType([None, 2]))],
                    target_opset={"": 17, "ai.onnx.ml": 3})  # zipmap on: ORT returns dicts
    repo = tmp_path / "repo"
    (repo / "shirts" / "1").mkdir(parents=True)
    (repo / "shirts" / "1" / "model.onnx").write_bytes(model.SerializeToString())
    rows = np.concatenate([x[:8], [["purple", "xl"], ["", "s"]]]).astype(object)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    want_labels, want_maps = sess.run(None, {"input": rows.astype(str)})
    want_probs = np.array([[m[k] for k in m] for m in want_maps], dtype=np.float32)

    proc, url = _start(repo)
    try:
        client = httpclient.InferenceServerClient(url)
        meta = client.get_model_metadata("shirts")
        assert meta["inputs"][0]["datatype"] == "BYTES"
        for binary in (False, True):
            inp = httpclient.InferInput("input", list(rows.shape), "BYTES")
            inp.set_data_from_numpy(rows, binary_data=binary)
            result = client.infer("shirts", [inp])
            labels = [v.decode() if isinstance(v, bytes) else v for v in result.as_numpy("output_label")]
            assert labels == list(want_labels), f"binary={binary}"
            np.testing.assert_allclose(result.as_numpy("output_probability"), want_probs, atol=ATOL)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
