"""Cross-check `berth run` against ONNX Runtime on recurrent and control-flow models.

The models are built here with onnx.helper (no torch): LSTM / GRU / RNN in both directions with
biases, sequence lengths, initial states and peepholes (layout 1, which ONNX Runtime refuses, is
covered by the ONNX node tests test_*_batchwise); an If whose
condition is computed from the input and whose branches read outer values; a Loop with scan
outputs; a Scan running sum. Run: .venv/bin/python -m pytest tests/python/test_control_flow_rnn.py -q
"""
from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from test_ort_crosscheck import assert_matches_ort

SEQ, BATCH, INPUT, HIDDEN = 5, 3, 4, 6
F = TensorProto.FLOAT


def _save(graph, path: Path, opset: int = 14) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save_model(model, str(path))
    return path


def _rnn_model(path: Path, op: str, gates: int, direction: str, layout: int, extra: dict, peepholes: bool) -> Path:
    rng = np.random.default_rng(zlib.crc32(repr((op, direction, layout, sorted(extra.items()))).encode()))
    dirs = 2 if direction == "bidirectional" else 1
    inits = [
        numpy_helper.from_array((rng.standard_normal((dirs, gates * HIDDEN, INPUT)) * 0.4).astype(np.float32), "W"),
        numpy_helper.from_array((rng.standard_normal((dirs, gates * HIDDEN, HIDDEN)) * 0.4).astype(np.float32), "R"),
        numpy_helper.from_array((rng.standard_normal((dirs, 2 * gates * HIDDEN)) * 0.2).astype(np.float32), "B"),
        numpy_helper.from_array(np.array([SEQ, 2, SEQ - 1], np.int32), "lens"),
        numpy_helper.from_array((rng.standard_normal((dirs, BATCH, HIDDEN) if layout == 0 else (BATCH, dirs, HIDDEN))
                                 * 0.3).astype(np.float32), "h0"),
    ]
    ins = ["X", "W", "R", "B", "lens", "h0"]
    outs = ["Y", "Y_h"]
    if op == "LSTM":
        inits.append(numpy_helper.from_array(
            (rng.standard_normal((dirs, BATCH, HIDDEN) if layout == 0 else (BATCH, dirs, HIDDEN)) * 0.3).astype(np.float32), "c0"))
        ins.append("c0")
        outs.append("Y_c")
        if peepholes:
            inits.append(numpy_helper.from_array((rng.standard_normal((dirs, 3 * HIDDEN)) * 0.3).astype(np.float32), "P"))
            ins.append("P")
    node = helper.make_node(op, ins, outs, hidden_size=HIDDEN, direction=direction, layout=layout, **extra)
    x_shape = [SEQ, BATCH, INPUT] if layout == 0 else [BATCH, SEQ, INPUT]
    graph = helper.make_graph([node], op.lower(), [helper.make_tensor_value_info("X", F, x_shape)],
                              [helper.make_tensor_value_info(o, F, [None] * (4 if o == "Y" else 3)) for o in outs], inits)
    return _save(graph, path)


RNN_CASES = [
    ("LSTM", 4, "forward", 0, {}, False),
    ("LSTM", 4, "bidirectional", 0, {}, True),
    ("LSTM", 4, "reverse", 0, {"clip": 0.8}, True),
    ("LSTM", 4, "forward", 0, {"input_forget": 1}, False),
    ("GRU", 3, "forward", 0, {"linear_before_reset": 0}, False),
    ("GRU", 3, "bidirectional", 0, {"linear_before_reset": 1}, False),
    ("GRU", 3, "reverse", 0, {"linear_before_reset": 1, "clip": 0.5}, False),
    ("RNN", 1, "bidirectional", 0, {}, False),
    ("RNN", 1, "forward", 0, {"activations": ["Relu"]}, False),
]


@pytest.mark.parametrize("case", RNN_CASES, ids=lambda c: f"{c[0]}-{c[2]}-layout{c[3]}-{'-'.join(c[4]) or 'plain'}")
def test_recurrent_matches_ort(berth_bin, tmp_path, case):
    op, gates, direction, layout, extra, peepholes = case
    model = _rnn_model(tmp_path / f"{op}.onnx", op, gates, direction, layout, extra, peepholes)
    shape = (SEQ, BATCH, INPUT) if layout == 0 else (BATCH, SEQ, INPUT)
    x = np.random.default_rng(5).standard_normal(shape).astype(np.float32)
    assert_matches_ort(berth_bin, model, {"X": x}, tmp_path)


def test_if_on_input_matches_ort(berth_bin, tmp_path):
    """y = If(sum(x) > 0, x * w, x - w): the condition comes from the feed, the branches read x and w."""
    w = numpy_helper.from_array(np.arange(8, dtype=np.float32).reshape(2, 4) / 4, "w")
    zero = numpy_helper.from_array(np.array(0, np.float32), "zero")
    then_g = helper.make_graph([helper.make_node("Mul", ["x", "w"], ["t"])], "then", [], [helper.make_tensor_value_info("t", F, [2, 4])])
    else_g = helper.make_graph([helper.make_node("Sub", ["x", "w"], ["e"])], "else", [], [helper.make_tensor_value_info("e", F, [2, 4])])
    nodes = [
        helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0),
        helper.make_node("Greater", ["s", "zero"], ["cond"]),
        helper.make_node("If", ["cond"], ["y"], then_branch=then_g, else_branch=else_g),
    ]
    graph = helper.make_graph(nodes, "if_on_input", [helper.make_tensor_value_info("x", F, [2, 4])],
                              [helper.make_tensor_value_info("y", F, [2, 4])], [w, zero])
    model = _save(graph, tmp_path / "if.onnx", opset=13)
    for sign, sub in [(1, "pos"), (-1, "neg")]:
        x = (sign * np.abs(np.random.default_rng(2).standard_normal((2, 4)))).astype(np.float32)
        assert_matches_ort(berth_bin, model, {"x": x}, tmp_path / sub)


def test_loop_and_scan_match_ort(berth_bin, tmp_path):
    """Loop M times: acc += x * i, scan output acc; Scan: running sum of x's rows."""
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("Cast", ["i"], ["fi"], to=F),
         helper.make_node("Mul", ["x", "fi"], ["xi"]),
         helper.make_node("Add", ["acc_in", "xi"], ["acc_out"]),
         helper.make_node("Identity", ["acc_out"], ["acc_scan"])],
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []), helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc_in", F, [3])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []), helper.make_tensor_value_info("acc_out", F, [3]),
         helper.make_tensor_value_info("acc_scan", F, [3])])
    scan_body = helper.make_graph(
        [helper.make_node("Add", ["sum_in", "row"], ["sum_out"]), helper.make_node("Identity", ["sum_out"], ["scan_out"])],
        "scan_body", [helper.make_tensor_value_info("sum_in", F, [3]), helper.make_tensor_value_info("row", F, [3])],
        [helper.make_tensor_value_info("sum_out", F, [3]), helper.make_tensor_value_info("scan_out", F, [3])])
    nodes = [
        helper.make_node("Loop", ["M", "", "acc0"], ["acc", "accs"], body=body),
        helper.make_node("Scan", ["acc0", "rows"], ["total", "partial"], body=scan_body, num_scan_inputs=1,
                         scan_input_directions=[1], scan_output_axes=[1]),
    ]
    inits = [numpy_helper.from_array(np.array(4, np.int64), "M"), numpy_helper.from_array(np.zeros(3, np.float32), "acc0")]
    graph = helper.make_graph(nodes, "loop_scan",
                              [helper.make_tensor_value_info("x", F, [3]), helper.make_tensor_value_info("rows", F, [5, 3])],
                              [helper.make_tensor_value_info("acc", F, [3]), helper.make_tensor_value_info("accs", F, [4, 3]),
                               helper.make_tensor_value_info("total", F, [3]), helper.make_tensor_value_info("partial", F, [3, 5])],
                              inits)
    model = _save(graph, tmp_path / "loop.onnx", opset=16)
    rng = np.random.default_rng(9)
    assert_matches_ort(berth_bin, model, {"x": rng.standard_normal(3).astype(np.float32),
                                          "rows": rng.standard_normal((5, 3)).astype(np.float32)}, tmp_path)


def test_nested_if_in_loop_matches_ort(berth_bin, tmp_path):
    """A Loop body holding an If whose branches read the main graph's x and the body's acc_in."""
    then_g = helper.make_graph([helper.make_node("Add", ["acc_in", "x"], ["t"])], "then", [],
                               [helper.make_tensor_value_info("t", F, [3])])
    else_g = helper.make_graph([helper.make_node("Sub", ["acc_in", "x"], ["e"])], "else", [],
                               [helper.make_tensor_value_info("e", F, [3])])
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("Mod", ["i", "two"], ["parity"]),
         helper.make_node("Equal", ["parity", "zero"], ["even"]),
         helper.make_node("If", ["even"], ["acc_out"], then_branch=then_g, else_branch=else_g)],
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []), helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc_in", F, [3])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []), helper.make_tensor_value_info("acc_out", F, [3])])
    inits = [numpy_helper.from_array(np.array(5, np.int64), "M"), numpy_helper.from_array(np.array(2, np.int64), "two"),
             numpy_helper.from_array(np.array(0, np.int64), "zero"), numpy_helper.from_array(np.ones(3, np.float32), "acc0")]
    graph = helper.make_graph([helper.make_node("Loop", ["M", "", "acc0"], ["acc"], body=body)], "nested",
                              [helper.make_tensor_value_info("x", F, [3])], [helper.make_tensor_value_info("acc", F, [3])], inits)
    model = _save(graph, tmp_path / "nested.onnx", opset=16)
    assert_matches_ort(berth_bin, model, {"x": np.array([0.5, -1.0, 2.0], np.float32)}, tmp_path)


@pytest.mark.parametrize("kind", ["knn_classifier", "knn_regressor", "gaussian_process"])
def test_skl2onnx_scan_models_match_ort(berth_bin, tmp_path, kind):
    """skl2onnx writes KNeighbors* and GaussianProcessRegressor with Scan (pairwise distances)."""
    from skl2onnx import to_onnx
    from sklearn.datasets import load_iris
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

    x, y = load_iris(return_X_y=True)
    x = x.astype(np.float32)
    model = {"knn_classifier": KNeighborsClassifier(3), "knn_regressor": KNeighborsRegressor(3),
             "gaussian_process": GaussianProcessRegressor(alpha=1e-2)}[kind].fit(x, y)
    options = {id(model): {"zipmap": False}} if kind == "knn_classifier" else None
    onx = to_onnx(model, x[:1], target_opset=15, options=options)
    assert any(n.op_type == "Scan" for n in onx.graph.node)
    path = tmp_path / f"{kind}.onnx"
    onnx.save_model(onx, str(path))
    assert_matches_ort(berth_bin, path, {onx.graph.input[0].name: x[::7]}, tmp_path)
