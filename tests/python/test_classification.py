"""Triton's classification extension through tritonclient (HTTP and gRPC): an output requested with
`class_count=N` comes back as BYTES "score:index:label" strings, the top N of each row, labels from
the output's label_filename in config.pbtxt; compared with ONNX Runtime's scores formatted as Triton
formats them (C's %f)."""
from __future__ import annotations

import re
import subprocess
import threading
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

LABELS = ["cat", "dog", "bird", "fish"]
# Named by the model file itself (metadata_props["labels"]), for models without config.pbtxt.
META_LABELS = ["north", "east", "south", "west"]


def _classifier(path: Path, metadata: dict[str, str] | None = None):
    """probs = softmax(x W + b) on [N, 5] → [N, 4], and label = argmax."""
    rng = np.random.default_rng(4)
    w, b = rng.normal(size=(5, 4)).astype(np.float32), rng.normal(size=(4,)).astype(np.float32)
    nodes = [helper.make_node("MatMul", ["x", "W"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["logits"]),
             helper.make_node("Softmax", ["logits"], ["probs"], axis=-1),
             helper.make_node("ArgMax", ["logits"], ["label"], axis=-1, keepdims=0)]
    g = helper.make_graph(nodes, "c", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 5])],
                          [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", 4]),
                           helper.make_tensor_value_info("label", TensorProto.INT64, ["N"])],
                          [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "b")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    if metadata:
        onnx.helper.set_model_props(m, metadata)
    onnx.checker.check_model(m)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(m, str(path))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    r = tmp_path_factory.mktemp("cls-repo")
    _classifier(r / "animals" / "1" / "model.onnx")
    (r / "animals" / "labels.txt").write_text("\n".join(LABELS) + "\n")
    (r / "animals" / "config.pbtxt").write_text(
        'max_batch_size: 8\n'
        'output [ { name: "probs" data_type: TYPE_FP32 dims: [ 4 ] label_filename: "labels.txt" } ]\n')
    _classifier(r / "unlabelled" / "1" / "model.onnx")
    import json
    _classifier(r / "meta" / "1" / "model.onnx", {"labels": json.dumps(META_LABELS)})
    _sklearn_classifier(r / "iris" / "1" / "model.onnx")
    port, gport = berthpy.free_port(), berthpy.free_port()
    proc = subprocess.Popen([str(berth_path()), "serve", "--insecure-no-auth", "--model-repository", str(r),
                             "--port", str(port), "--grpc-port", str(gport)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines, loaded = [], threading.Event()

    def read():
        for line in proc.stdout:
            lines.append(line)
            if "models loaded" in line:
                loaded.set()
    threading.Thread(target=read, daemon=True).start()
    assert loaded.wait(120), "".join(lines)
    h = httpclient.InferenceServerClient(f"127.0.0.1:{port}")
    for _ in range(300):
        try:
            if h.is_server_ready():
                break
        except Exception:
            pass
    yield r, h, grpcclient.InferenceServerClient(f"127.0.0.1:{gport}"), port
    berthpy.stop_process(proc)


def _expected(probs: np.ndarray, k: int, labels: list[str] | None) -> np.ndarray:
    rows = []
    for p in probs:
        order = sorted(range(len(p)), key=lambda i: (-float(p[i]), i))[:k]
        rows.append([(f"{float(p[i]):f}:{i}" + (f":{labels[i]}" if labels else "")).encode() for i in order])
    return np.array(rows, dtype=object)


def _sklearn_classifier(path: Path):
    """skl2onnx's LogisticRegression on iris with string classes: its LinearClassifier node names
    the classes (classlabels_strings), in the column order of its probabilities output."""
    from skl2onnx import to_onnx
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    x, y = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    clf = LogisticRegression(max_iter=500).fit(x.astype(np.float32), names)
    m = to_onnx(clf, x[:1].astype(np.float32), options={"zipmap": False}, target_opset={"": 15, "ai.onnx.ml": 3})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(m.SerializeToString())
    return clf


@pytest.mark.parametrize("model,labels", [("animals", LABELS), ("unlabelled", None), ("meta", META_LABELS)])
@pytest.mark.parametrize("k", [1, 3, 10])
def test_class_count_over_http_and_grpc_matches_onnxruntime(server, model, labels, k):
    repo, h, g, _ = server
    x = np.random.default_rng(k).normal(size=(6, 5)).astype(np.float32)
    probs = ort.InferenceSession(str(repo / model / "1" / "model.onnx"), providers=["CPUExecutionProvider"]).run(
        ["probs"], {"x": x})[0]
    want = _expected(probs, k, labels)
    for mod, client in ((httpclient, h), (grpcclient, g)):
        i = mod.InferInput("x", list(x.shape), "FP32")
        i.set_data_from_numpy(x)
        res = client.infer(model, [i], outputs=[mod.InferRequestedOutput("probs", class_count=k),
                                                mod.InferRequestedOutput("label")])
        got = res.as_numpy("probs")
        assert got.shape == (6, min(k, 4)), mod.__name__
        # The same classes in the same order with the same labels; the score as Triton prints it
        # (%f: 6 decimals) and equal to ORT's within float32 rounding (one unit in the 6th decimal).
        for g_row, w_row in zip(got, want):
            for gs, ws in zip(g_row, w_row):
                gs, ws = gs.decode(), ws.decode()
                assert re.fullmatch(r"\d+\.\d{6}:\d+(:[a-z]+)?", gs), gs
                assert gs.split(":")[1:] == ws.split(":")[1:], (gs, ws)
                assert abs(float(gs.split(":")[0]) - float(ws.split(":")[0])) <= 1.5e-6, (gs, ws)
        out = res.get_output("probs")
        assert (out["datatype"] if isinstance(out, dict) else out.datatype) == "BYTES"
        # The other requested output is untouched.
        np.testing.assert_array_equal(res.as_numpy("label"), probs.argmax(axis=1))


def test_labels_from_a_sklearn_classifier(server):
    """No label file: the labels are the classifier's own classes, in sklearn's order. The string
    label output comes back as BYTES over HTTP and gRPC alike, equal to ONNX Runtime's."""
    repo, h, g, _ = server
    from sklearn.datasets import load_iris

    x = load_iris(return_X_y=True)[0][::10].astype(np.float32)
    sess = ort.InferenceSession(str(repo / "iris" / "1" / "model.onnx"), providers=["CPUExecutionProvider"])
    probs = sess.run(["probabilities"], {"X": x})[0]
    i = httpclient.InferInput("X", list(x.shape), "FP32")
    i.set_data_from_numpy(x)
    got = h.infer("iris", [i], outputs=[httpclient.InferRequestedOutput("probabilities", class_count=2)]).as_numpy("probabilities")
    labels = sess.run(["label"], {"X": x})[0]
    for mod, client in ((httpclient, h), (grpcclient, g)):
        gi = mod.InferInput("X", list(x.shape), "FP32")
        gi.set_data_from_numpy(x)
        got_labels = client.infer("iris", [gi], outputs=[mod.InferRequestedOutput("label")]).as_numpy("label")
        assert [v.decode() for v in got_labels.ravel()] == [str(v) for v in labels.ravel()], mod.__name__
    want = _expected(probs, 2, ["setosa", "versicolor", "virginica"])
    assert got.shape == want.shape
    for g_row, w_row in zip(got, want):
        for gs, ws in zip(g_row, w_row):
            assert gs.decode().split(":")[1:] == ws.decode().split(":")[1:]
            assert abs(float(gs.decode().split(":")[0]) - float(ws.decode().split(":")[0])) <= 1.5e-6


def test_classification_errors(server):
    _, h, _, port = server
    body = {"inputs": [{"name": "x", "shape": [1, 5], "datatype": "FP32", "data": [0.0] * 5}],
            "outputs": [{"name": "probs", "parameters": {"classification": -1}}]}
    status, answer = berthpy.http_json("POST", f"http://127.0.0.1:{port}/v2/models/animals/infer", body)
    assert status == 400 and "'classification' must be a non-negative integer" in answer["error"]
    assert "classification" in h.get_server_metadata()["extensions"]
