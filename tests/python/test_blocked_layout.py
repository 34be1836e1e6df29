"""The blocked-layout pass (oneDNN regions that keep activations in nChw16c / nChw8c between
primitives) against ONNX Runtime, on graphs where the pass has decisions to make: a non-oneDNN op
in the middle of a chain, a region value that is also a graph output, a Concat of blocked and
plain inputs, channel counts that are not a multiple of the block, a broadcasting Add inside a
region (runs on Berth's Add), pooling windows with ceil mode and counted padding, BatchNormalization
inside a region; each at batch 1 and 3 (the batch is symbolic).

Tolerance: RTOL of the output's largest magnitude, as in test_conv_kernels.py (fp32 convolutions
and averages sum in a different order per kernel). Where the region runs the same kernels as the
plain plan (convolutions with fused ReLU, MaxPool, Add, Concat), outputs must be bit-identical
with and without the pass (BERTH_DNNL_BLOCKED=0).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import berthpy  # noqa: E402

RTOL = 2e-5


def _model(nodes, inits, channels, hw, outputs=("y",), opset=13):
    g = helper.make_graph(nodes, "blocked_case",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", channels, hw[0], hw[1]])],
                          [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs], initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    onnx.checker.check_model(onnx.shape_inference.infer_shapes(m))
    return m


class _W:
    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.inits = []

    def conv(self, name, cout, cin, k, bias=True):
        w = (self.rng.standard_normal((cout, cin, k, k)) / np.sqrt(cin * k * k)).astype(np.float32)
        self.inits.append(numpy_helper.from_array(w, name + ".w"))
        if bias:
            self.inits.append(numpy_helper.from_array((self.rng.standard_normal(cout) * 0.1).astype(np.float32), name + ".b"))
            return [name + ".w", name + ".b"]
        return [name + ".w"]

    def bn(self, name, c):
        """BatchNormalization's scale, bias, mean and variance (variance kept away from zero)."""
        vals = [1 + 0.2 * self.rng.standard_normal(c), 0.2 * self.rng.standard_normal(c),
                0.2 * self.rng.standard_normal(c), 0.5 + np.abs(self.rng.standard_normal(c))]
        names = [f"{name}.{k}" for k in ("scale", "bias", "mean", "var")]
        self.inits += [numpy_helper.from_array(v.astype(np.float32), n) for v, n in zip(vals, names)]
        return names

    def const(self, name, value):
        self.inits.append(numpy_helper.from_array(np.asarray(value, np.float32), name))
        return name


def case_models():
    out = []
    # Conv → ReLU → Mul (not a oneDNN op: the region ends, Berth's Mul sees NCHW) → Conv → MaxPool
    # → Conv + residual Add + ReLU → GlobalAveragePool → Flatten.
    w = _W(1)
    out.append(("chain_with_plain_middle", _model([
        helper.make_node("Conv", ["x"] + w.conv("c1", 24, 3, 3), ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Mul", ["r1", w.const("two", 2.0)], ["m1"]),
        helper.make_node("Conv", ["m1"] + w.conv("c2", 20, 24, 3), ["c2"], pads=[1, 1, 1, 1]),
        helper.make_node("MaxPool", ["c2"], ["p2"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["p2"] + w.conv("c3", 20, 20, 3), ["c3"], pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["c3", "p2"], ["s3"]),
        helper.make_node("Relu", ["s3"], ["r3"]),
        helper.make_node("GlobalAveragePool", ["r3"], ["g"]),
        helper.make_node("Flatten", ["g"], ["y"]),
    ], w.inits, 3, (17, 19))))
    # A region value that is also a graph output, and one read both inside and outside the region.
    w = _W(2)
    out.append(("region_value_is_output", _model([
        helper.make_node("Conv", ["x"] + w.conv("c1", 16, 5, 3), ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["y1"]),
        helper.make_node("Conv", ["y1"] + w.conv("c2", 32, 16, 1), ["c2"]),
        helper.make_node("Sigmoid", ["c2"], ["s2"]),
        helper.make_node("MaxPool", ["s2"], ["p2"], kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1),
        helper.make_node("Conv", ["p2"] + w.conv("c3", 8, 32, 3), ["y"], pads=[1, 1, 1, 1]),
        helper.make_node("ReduceMean", ["y1"], ["y2"], axes=[1], keepdims=1),
    ], w.inits, 5, (15, 14), outputs=("y", "y1", "y2"))))
    # Concat of a blocked value, a plain value computed outside the region and the graph input
    # itself (3 + 16 + 24 channels: none a multiple of the block but one), then a conv.
    w = _W(3)
    out.append(("concat_blocked_and_plain", _model([
        helper.make_node("Conv", ["x"] + w.conv("c1", 16, 3, 3), ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1"] + w.conv("c2", 24, 16, 1), ["c2"]),
        helper.make_node("Abs", ["c2"], ["plain"]),
        helper.make_node("Concat", ["x", "r1", "plain"], ["cat"], axis=1),
        helper.make_node("Conv", ["cat"] + w.conv("c3", 12, 43, 3), ["c3"], pads=[1, 1, 1, 1]),
        helper.make_node("Clip", ["c3", w.const("lo", 0.0), w.const("hi", 0.5)], ["y"]),
    ], w.inits, 3, (12, 13))))
    # DenseNet-style: concat-growing features, pooled with counted padding and ceil mode, an
    # SE-style broadcasting Add inside the region (Berth's Add runs it), LeakyRelu and Tanh.
    w = _W(4)
    out.append(("dense_pools_broadcast", _model([
        helper.make_node("Conv", ["x"] + w.conv("c0", 32, 4, 3), ["f0"], pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["f0"] + w.conv("c1", 16, 32, 3), ["g1"], pads=[1, 1, 1, 1]),
        helper.make_node("LeakyRelu", ["g1"], ["a1"], alpha=0.2),
        helper.make_node("Concat", ["f0", "a1"], ["f1"], axis=1),
        helper.make_node("Conv", ["f1"] + w.conv("c2", 16, 48, 1), ["g2"]),
        helper.make_node("Tanh", ["g2"], ["a2"]),
        helper.make_node("Concat", ["f1", "a2"], ["f2"], axis=1),
        helper.make_node("AveragePool", ["f2"], ["q2"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=1),
        helper.make_node("GlobalAveragePool", ["q2"], ["se"]),
        helper.make_node("Add", ["q2", "se"], ["b2"]),
        helper.make_node("AveragePool", ["b2"], ["q3"], kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1),
        helper.make_node("Conv", ["q3"] + w.conv("c3", 10, 64, 1, bias=False), ["y"]),
    ], w.inits, 4, (21, 18))))
    # DenseNet's pre-activation layers: BatchNormalization (kept by the exporter: it follows a
    # Concat) → ReLU → Conv, and a BatchNormalization right after a Conv; 20 and 37 channels
    # (padded blocks), a non-default epsilon. Runs as oneDNN's batch normalization in the region.
    w = _W(6)
    out.append(("batchnorm_preactivation", _model([
        helper.make_node("Conv", ["x"] + w.conv("c0", 20, 3, 3), ["f0"], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["f0"] + w.bn("n0", 20), ["b0"], epsilon=1e-3),
        helper.make_node("Relu", ["b0"], ["r0"]),
        helper.make_node("Conv", ["r0"] + w.conv("c1", 17, 20, 3), ["g1"], pads=[1, 1, 1, 1]),
        helper.make_node("Concat", ["f0", "g1"], ["f1"], axis=1),
        helper.make_node("BatchNormalization", ["f1"] + w.bn("n1", 37), ["b1"]),
        helper.make_node("Relu", ["b1"], ["r1"]),
        helper.make_node("Conv", ["r1"] + w.conv("c2", 12, 37, 1), ["y"]),
    ], w.inits, 3, (19, 16))))
    return out


# Same kernels with and without the pass: convolutions with fused ReLU, MaxPool, Add, Concat.
def bitexact_model():
    w = _W(5)
    return _model([
        helper.make_node("Conv", ["x"] + w.conv("c1", 32, 3, 3), ["c1"], pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["p1"] + w.conv("a", 16, 32, 1), ["a"]),
        helper.make_node("Conv", ["p1"] + w.conv("b", 16, 32, 3), ["b"], pads=[1, 1, 1, 1]),
        helper.make_node("Concat", ["a", "b"], ["ab"], axis=1),
        helper.make_node("Add", ["ab", "p1"], ["s"]),
        helper.make_node("Relu", ["s"], ["rs"]),
        helper.make_node("Conv", ["rs"] + w.conv("c3", 24, 32, 3), ["y"], pads=[1, 1, 1, 1]),
    ], w.inits, 3, (33, 30))


CASES = case_models()


def _run_berth(berth_bin, path, x, out_dir):
    proc, got = berthpy.berth_run(berth_bin, path, {"x": x}, out_dir)
    assert proc.returncode == 0, proc.stderr
    return got


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("case", [c[0] for c in CASES])
def test_blocked_regions_match_ort(berth_bin, tmp_path, case, batch):
    _, model = next(c for c in CASES if c[0] == case)
    path = tmp_path / f"{case}.onnx"
    onnx.save(model, str(path))
    d = model.graph.input[0].type.tensor_type.shape.dim
    x = np.random.default_rng(batch).standard_normal([batch] + [v.dim_value for v in d[1:]]).astype(np.float32)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    want = dict(zip(names, sess.run(None, {"x": x})))
    got = _run_berth(berth_bin, path, x, tmp_path / "out")
    for name in names:
        assert got[name].shape == want[name].shape, name
        scale = max(1.0, float(np.max(np.abs(want[name]))))
        diff = float(np.max(np.abs(got[name].astype(np.float64) - want[name])))
        assert diff <= RTOL * scale, f"{case} batch {batch} output {name}: max |diff| {diff:.3g} > {RTOL:g} x {scale:.3g}"


@pytest.mark.parametrize("batch", [1, 3])
def test_blocked_regions_bit_identical_to_plain_plan(berth_bin, tmp_path, monkeypatch, batch):
    path = tmp_path / "bitexact.onnx"
    onnx.save(bitexact_model(), str(path))
    x = np.random.default_rng(7 + batch).standard_normal([batch, 3, 33, 30]).astype(np.float32)
    with_pass = _run_berth(berth_bin, path, x, tmp_path / "on")["y"]
    monkeypatch.setenv("BERTH_DNNL_BLOCKED", "0")
    without = _run_berth(berth_bin, path, x, tmp_path / "off")["y"]
    assert with_pass.shape == without.shape
    assert np.array_equal(with_pass, without), f"max |diff| {np.max(np.abs(with_pass - without)):.3g}"
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    scale = max(1.0, float(np.max(np.abs(want))))
    assert float(np.max(np.abs(with_pass.astype(np.float64) - want))) <= RTOL * scale
