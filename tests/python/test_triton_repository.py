"""A Triton model repository as Triton users write it (config.pbtxt: max_batch_size, dims and
reshape, dynamic batching, instance groups, version policy, warm-up from zero / random / file
inputs, parameters, and an ensemble of two ONNX models) served by `berth serve`, driven by
tritonclient (HTTP and gRPC) and compared with ONNX Runtime. Also: the one load warning that
lists the fields Berth does not honour (config.pbtxt and config.json), and clear load errors for
a malformed config.pbtxt, an ensemble cycle, a missing step model and a bad warm-up file."""
from __future__ import annotations

import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import berthpy
from conftest import berth_path

import tritonclient.grpc as grpcclient  # noqa: E402
import tritonclient.http as httpclient  # noqa: E402
from tritonclient.utils import InferenceServerException  # noqa: E402

RTOL, ATOL = 1e-5, 1e-6  # float32 against ORT
SERVER_URL = [""]  # the module server's REST address, for tests that open their own clients


def _model(path: Path, nodes, inputs, outputs, inits=()):
    g = helper.make_graph(nodes, path.parent.parent.name, inputs, outputs, list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    onnx.checker.check_model(m)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(m, str(path))


def _pre(path: Path):
    """y = x * 2 + 1 on [N, 4]."""
    _model(path, [helper.make_node("Mul", ["INPUT0", "two"], ["t"]), helper.make_node("Add", ["t", "one"], ["OUT"])],
           [helper.make_tensor_value_info("INPUT0", TensorProto.FLOAT, ["N", 4])],
           [helper.make_tensor_value_info("OUT", TensorProto.FLOAT, ["N", 4])],
           [numpy_helper.from_array(np.array(2, np.float32), "two"), numpy_helper.from_array(np.array(1, np.float32), "one")])


def _classifier(path: Path, seed: int):
    """probs = softmax(x W + b), label = argmax, on [N, 4] → [N, 3]."""
    rng = np.random.default_rng(seed)
    w, b = rng.normal(size=(4, 3)).astype(np.float32), rng.normal(size=(3,)).astype(np.float32)
    _model(path, [helper.make_node("MatMul", ["x", "W"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["logits"]),
                  helper.make_node("Softmax", ["logits"], ["probs"], axis=-1)],
           [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
           [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", 3])],
           [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "b")])


PRE = """
name: "pre"
platform: "onnxruntime_onnx"
max_batch_size: 8
input [ { name: "INPUT0" data_type: TYPE_FP32 dims: [ 4 ] } ]
output [ { name: "OUT" data_type: TYPE_FP32 dims: [ 4 ] } ]
dynamic_batching { preferred_batch_size: [ 4 ] max_queue_delay_microseconds: 200 }
instance_group [ { count: 2 kind: KIND_CPU } ]
"""

CLASSIFIER = """
name: "classifier"
backend: "onnxruntime"
max_batch_size: 16
version_policy: { specific: { versions: [ 1, 3 ] } }
input [ { name: "x" data_type: TYPE_FP32 dims: [ 4 ] } ]
output [ { name: "probs" data_type: TYPE_FP32 dims: [ 3 ] } ]
instance_group [ { count: 1 kind: KIND_GPU gpus: [ 0 ] } ]
parameters { key: "intra_op_thread_count" value: { string_value: "1" } }
parameters { key: "execution_mode" value: { string_value: "parallel" } }
response_cache { enable: true }
dynamic_batching { priority_levels: 2 default_priority_level: 1 }
model_warmup [
  { name: "zeros" batch_size: 2 inputs { key: "x" value: { data_type: TYPE_FP32 dims: [ 4 ] zero_data: true } } },
  { name: "random" batch_size: 4 count: 3 inputs { key: "x" value: { data_type: TYPE_FP32 dims: [ 4 ] random_data: true } } },
  { name: "file" batch_size: 1 inputs { key: "x" value: { data_type: TYPE_FP32 dims: [ 4 ] input_data_file: "x.bin" } } }
]
"""

RESHAPED = """
max_batch_size: 8
input [ { name: "INPUT0" data_type: TYPE_FP32 dims: [ 2, 2 ] reshape: { shape: [ 4 ] } } ]
output [ { name: "OUT" data_type: TYPE_FP32 dims: [ 2, 2 ] reshape: { shape: [ 4 ] } } ]
"""

PIPELINE = """
name: "pipeline"
platform: "ensemble"
max_batch_size: 8
input [ { name: "RAW" data_type: TYPE_FP32 dims: [ 4 ] } ]
output [ { name: "SCORES" data_type: TYPE_FP32 dims: [ 3 ] } ]
ensemble_scheduling {
  step [
    { model_name: "classifier" model_version: -1 input_map { key: "x" value: "scaled" } output_map { key: "probs" value: "SCORES" } },
    { model_name: "pre" model_version: 1 input_map { key: "INPUT0" value: "RAW" } output_map { key: "OUT" value: "scaled" } }
  ]
}
"""


SLOW = """
max_batch_size: 0
input [ { name: "x" data_type: TYPE_FP32 dims: [ -1, 512 ] } ]
instance_group [ { count: 1 } ]
dynamic_batching { priority_levels: 2 default_priority_level: 2 }
"""


def _slow(path: Path):
    """1024 layers sharing one 512×512 weight: much compute for few input bytes, so a long request
    arrives at once and then holds the only instance."""
    w = numpy_helper.from_array((np.random.default_rng(5).normal(size=(512, 512)) / 23).astype(np.float32), "W")
    nodes = [helper.make_node("MatMul", ["x" if i == 0 else f"h{i}", "W"], [f"h{i + 1}"]) for i in range(1024)]
    nodes.append(helper.make_node("ReduceMean", ["h1024"], ["y"], axes=[1], keepdims=0))  # a small answer
    _model(path, nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 512])],
           [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N"])], [w])


def _ensemble(name: str, steps: list[tuple[str, str, str]]) -> str:
    body = ", ".join(f'{{ model_name: "{m}" model_version: -1 input_map {{ key: "x" value: "{i}" }} '
                     f'output_map {{ key: "probs" value: "{o}" }} }}' for m, i, o in steps)
    return (f'name: "{name}" platform: "ensemble" max_batch_size: 8\n'
            'input [ { name: "A" data_type: TYPE_FP32 dims: [ 4 ] } ]\n'
            'output [ { name: "B" data_type: TYPE_FP32 dims: [ 3 ] } ]\n'
            f"ensemble_scheduling {{ step [ {body} ] }}\n")


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    r = tmp_path_factory.mktemp("triton-repo")
    _pre(r / "pre" / "1" / "model.onnx")
    (r / "pre" / "config.pbtxt").write_text(PRE)
    for v in (1, 2, 3):
        _classifier(r / "classifier" / str(v) / "model.onnx", seed=v)
    (r / "classifier" / "config.pbtxt").write_text(CLASSIFIER)
    (r / "classifier" / "warmup").mkdir()
    (r / "classifier" / "warmup" / "x.bin").write_bytes(np.arange(4, dtype=np.float32).tobytes())
    _pre(r / "reshaped" / "1" / "model.onnx")
    (r / "reshaped" / "config.pbtxt").write_text(RESHAPED)
    (r / "pipeline" / "1").mkdir(parents=True)
    (r / "pipeline" / "config.pbtxt").write_text(PIPELINE)
    # config.json keys Berth does not read are reported too.
    _slow(r / "slow" / "1" / "model.onnx")
    (r / "slow" / "config.pbtxt").write_text(SLOW)
    _pre(r / "legacy" / "1" / "model.onnx")
    (r / "legacy" / "config.json").write_text('{"max_batch_size": 4, "model_warmup": [], "dynamic_batching": {"preserve_ordering": true}}')
    # Bad inputs: each must fail to load with a message naming the file and the field.
    _pre(r / "badcfg" / "1" / "model.onnx")
    (r / "badcfg" / "config.pbtxt").write_text("max_batch_size: 8\ninput [ { name: \"INPUT0\" dimz: [ 4 ] } ]\n")
    _pre(r / "wrongdims" / "1" / "model.onnx")
    (r / "wrongdims" / "config.pbtxt").write_text('max_batch_size: 8\ninput [ { name: "INPUT0" data_type: TYPE_FP32 dims: [ 5 ] } ]\n')
    for name, steps in {"cycle_a": [("cycle_b", "A", "B")], "cycle_b": [("cycle_a", "A", "B")],
                        "missing_step": [("nope", "A", "B")]}.items():
        (r / name / "1").mkdir(parents=True)
        (r / name / "config.pbtxt").write_text(_ensemble(name, steps))
    # Warm-up dims whose product overflows, and a reshape whose product does: errors, never a crash.
    _classifier(r / "hugewarm" / "1" / "model.onnx", seed=9)
    (r / "hugewarm" / "config.pbtxt").write_text(
        'max_batch_size: 4\nmodel_warmup [ { name: "w" batch_size: 1000 inputs { key: "x" value: '
        '{ data_type: TYPE_FP32 dims: [ 16777216, 16777216, 16777216, 16777216 ] zero_data: true } } } ]\n')
    _pre(r / "hugereshape" / "1" / "model.onnx")
    (r / "hugereshape" / "config.pbtxt").write_text(
        'max_batch_size: 8\ninput [ { name: "INPUT0" data_type: TYPE_FP32 dims: [ 4 ] '
        'reshape: { shape: [ 2147483647, 2147483647, 2147483647, -1 ] } } ]\n')
    _classifier(r / "badwarm" / "1" / "model.onnx", seed=9)
    (r / "badwarm" / "warmup").mkdir()
    (r / "badwarm" / "warmup" / "short.bin").write_bytes(b"\0" * 7)
    (r / "badwarm" / "config.pbtxt").write_text(
        'max_batch_size: 4\nmodel_warmup [ { name: "w" batch_size: 1 inputs { key: "x" value: '
        '{ data_type: TYPE_FP32 dims: [ 4 ] input_data_file: "short.bin" } } } ]\n')
    return r


@pytest.fixture(scope="module")
def server(repo):
    port, gport = berthpy.free_port(), berthpy.free_port()
    # Not strict: the repository holds broken models on purpose (test_kserve_readiness checks strictness).
    proc = subprocess.Popen([str(berth_path()), "serve", "--insecure-no-auth", "--model-repository", str(repo),
                             "--port", str(port), "--grpc-port", str(gport), "--strict-readiness", "false"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    loaded = threading.Event()

    def read():
        for line in proc.stdout:
            lines.append(line)
            if "models loaded" in line:
                loaded.set()
    threading.Thread(target=read, daemon=True).start()
    assert loaded.wait(180), "".join(lines)
    h = httpclient.InferenceServerClient(f"127.0.0.1:{port}")
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            if h.is_server_ready():
                break
        except Exception:
            time.sleep(0.05)
    SERVER_URL[0] = f"127.0.0.1:{port}"
    yield h, grpcclient.InferenceServerClient(f"127.0.0.1:{gport}"), lines
    berthpy.stop_process(proc)


def _ort(path: Path, feeds: dict) -> list[np.ndarray]:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feeds)


def _infer(client, mod, model: str, name: str, x: np.ndarray, out: str, version: str = "") -> np.ndarray:
    i = mod.InferInput(name, list(x.shape), "FP32")
    i.set_data_from_numpy(x)
    return client.infer(model, [i], model_version=version).as_numpy(out)


def test_pbtxt_config_is_served_as_written(server):
    h, g, _ = server
    cfg = h.get_model_config("pre")
    assert cfg["max_batch_size"] == 8
    assert cfg["dynamic_batching"]["preferred_batch_size"] == [4]
    assert cfg["dynamic_batching"]["max_queue_delay_microseconds"] == 200
    assert cfg["instance_group"][0]["count"] == 2
    x = np.ones((9, 4), np.float32)
    with pytest.raises(InferenceServerException, match="batch-size must be <= 8"):
        _infer(h, httpclient, "pre", "INPUT0", x, "OUT")
    np.testing.assert_allclose(_infer(h, httpclient, "pre", "INPUT0", x[:8], "OUT"), x[:8] * 2 + 1)


def test_version_policy_specific(server, repo):
    h, g, _ = server
    states = {(m["name"], m.get("version")): m.get("state") for m in h.get_model_repository_index()}
    assert states[("classifier", "1")] == "READY" and states[("classifier", "3")] == "READY"
    assert states.get(("classifier", "2")) != "READY"
    x = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    for v in ("1", "3"):
        want = _ort(repo / "classifier" / v / "model.onnx", {"x": x})[0]
        np.testing.assert_allclose(_infer(g, grpcclient, "classifier", "x", x, "probs", v), want, rtol=RTOL, atol=ATOL)
    assert not h.is_model_ready("classifier", "2")


def test_reshape(server, repo):
    h, g, _ = server
    md = h.get_model_metadata("reshaped")
    assert md["inputs"][0]["shape"] == [-1, 2, 2] and md["outputs"][0]["shape"] == [-1, 2, 2]
    x = np.random.default_rng(1).normal(size=(3, 2, 2)).astype(np.float32)
    want = _ort(repo / "pre" / "1" / "model.onnx", {"INPUT0": x.reshape(3, 4)})[0].reshape(3, 2, 2)
    np.testing.assert_allclose(_infer(h, httpclient, "reshaped", "INPUT0", x, "OUT"), want, rtol=RTOL, atol=ATOL)


def test_ensemble_of_two_onnx_models_equals_onnxruntime(server, repo):
    h, g, _ = server
    md = g.get_model_metadata("pipeline")
    assert md.platform == "ensemble" and h.get_model_config("pipeline")["platform"] == "ensemble"
    assert [i.name for i in md.inputs] == ["RAW"] and [o.name for o in md.outputs] == ["SCORES"]
    x = np.random.default_rng(2).normal(size=(6, 4)).astype(np.float32)
    scaled = _ort(repo / "pre" / "1" / "model.onnx", {"INPUT0": x})[0]
    # model_version -1: the highest version the classifier's policy serves (3, not 2).
    want = _ort(repo / "classifier" / "3" / "model.onnx", {"x": scaled})[0]
    for client, mod in ((h, httpclient), (g, grpcclient)):
        np.testing.assert_allclose(_infer(client, mod, "pipeline", "RAW", x, "SCORES"), want, rtol=RTOL, atol=ATOL)


def _reason(h, name: str) -> str:
    rows = [m for m in h.get_model_repository_index() if m["name"] == name]
    assert rows, name
    return " ".join(m.get("reason", "") for m in rows)


def test_bad_configs_fail_with_clear_errors(server):
    h, g, _ = server
    r = _reason(h, "badcfg")
    assert "config.pbtxt" in r and "field name" in r and "line 2" in r and "dimz" in r
    r = _reason(h, "wrongdims")
    assert "config.pbtxt" in r and "INPUT0" in r and "[5]" in r
    assert "cycle" in _reason(h, "cycle_a") and "cycle_a" in _reason(h, "cycle_a")
    r = _reason(h, "missing_step")
    assert "config.pbtxt" in r and "ensemble_scheduling.step[0].model_name" in r and "nope" in r
    r = _reason(h, "badwarm")
    assert "model_warmup" in r and "short.bin" in r
    assert "more than" in _reason(h, "hugewarm")
    assert "hugereshape" not in [m["name"] for m in h.get_model_repository_index() if m.get("state") == "READY"]
    for name in ("badcfg", "wrongdims", "cycle_a", "cycle_b", "missing_step", "badwarm", "hugewarm", "hugereshape"):
        assert not h.is_model_ready(name)
    assert h.is_server_live() and h.is_model_ready("classifier")


def test_one_warning_lists_the_fields_berth_does_not_honour(server):
    _, _, lines = server
    warnings = [l for l in lines if "does not honour" in l]
    classifier = [l for l in warnings if "model=classifier" in l]
    assert len(classifier) == 1, warnings
    for field in ("response_cache.enable", "parameters.execution_mode", "instance_group.kind", "instance_group.gpus"):
        assert field in classifier[0], (field, classifier[0])
    for honoured in ("intra_op_thread_count", "model_warmup", "priority_level", "max_batch_size", "version_policy"):
        assert honoured not in classifier[0], (honoured, classifier[0])
    legacy = [l for l in warnings if "model=legacy" in l]
    assert len(legacy) == 1 and "model_warmup" in legacy[0] and "dynamic_batching.preserve_ordering" in legacy[0]
    assert not [l for l in warnings if "model=pre " in l or "model=pipeline" in l], warnings


def test_priority_levels_serve_level_one_first(server):
    """One instance busy with a long request; three requests at the default level 2 queue, then
    one at level 1: it is served before all three (FIFO would serve it last)."""
    h, _, _ = server
    assert SERVER_URL[0]

    def call(rows: int, priority: int, out: dict, key: str):
        c = httpclient.InferenceServerClient(SERVER_URL[0])
        x = np.full((rows, 512), 0.01, np.float32)
        i = httpclient.InferInput("x", list(x.shape), "FP32")
        i.set_data_from_numpy(x, binary_data=True)
        c.infer("slow", [i], priority=priority)
        out[key] = time.monotonic()
        c.close()

    # Size the blocking request to compute for about 3 s on this machine (the server's own
    # compute time per row, from Triton's statistics, on a probe large enough to run on the same
    # kernels as the blocker). The premise — the blocker still holds the instance when the
    # high-priority request arrives — is checked, and the blocker made longer if it did not hold.
    def compute_ns() -> int:
        return h.get_inference_statistics("slow")["model_stats"][0]["inference_stats"]["compute_infer"]["ns"]
    before = compute_ns()
    call(64, 0, {}, "probe")
    per_row = (compute_ns() - before) / 1e9 / 64
    rows = int(min(16000, max(64, 3.0 / max(per_row, 1e-9))))
    for _ in range(3):
        done: dict = {}
        threads = [threading.Thread(target=call, args=(rows, 0, done, "blocker"))]
        threads[0].start()
        time.sleep(0.5)
        for k in range(3):
            threads.append(threading.Thread(target=call, args=(1, 2, done, f"low{k}")))
            threads[-1].start()
            time.sleep(0.05)
        time.sleep(0.1)
        high_sent = time.monotonic()
        threads.append(threading.Thread(target=call, args=(1, 1, done, "high")))
        threads[-1].start()
        for th in threads:
            th.join(120)
        if done.get("blocker", 0) > high_sent:
            break
        rows = min(16000, rows * 4)
    else:
        pytest.fail(f"a {rows}-row request did not keep the instance busy until the last request queued")
    assert set(done) == {"blocker", "low0", "low1", "low2", "high"}, done
    assert all(done["high"] < done[f"low{k}"] for k in range(3)), sorted(done, key=done.get)
