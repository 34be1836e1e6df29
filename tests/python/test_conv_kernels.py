"""Conv on every backend Berth has (oneDNN with plain or blocked activations, im2col + OpenBLAS)
against ONNX Runtime, including the fusions the optimizer makes (Conv + Add + activation).

Each model runs through `berth run` under each backend setting (BERTH_DNNL=0 forces the
portable path; BERTH_DNNL_LAYOUT picks oneDNN's activation layout) and must match ORT's
CPUExecutionProvider within RTOL of the output's largest magnitude: fp32 convolutions sum in
different orders per kernel, so the error grows with the reduction length and the values, not
with each element (1e-5 relative is what a 3x3x64 fp32 reduction keeps; 2e-5 leaves room for ReLU
residual chains).
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
BACKENDS = {
    "default": {},
    "onednn-plain": {"BERTH_DNNL_LAYOUT": "plain"},
    "onednn-blocked": {"BERTH_DNNL_LAYOUT": "blocked"},
    "im2col-openblas": {"BERTH_DNNL": "0"},
}


def _model(nodes, inits, x_shape, out="y", opset=13):
    g = helper.make_graph(nodes, "conv_case", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                          [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)], initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    onnx.checker.check_model(onnx.shape_inference.infer_shapes(m))
    return m


def _w(rng, name, shape):
    fan_in = int(np.prod(shape[1:]))
    return numpy_helper.from_array((rng.standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32), name)


def _b(rng, name, n):
    return numpy_helper.from_array((rng.standard_normal(n) * 0.1).astype(np.float32), name)


def case_models():
    """(name, model) for the conv shapes and fusions the kernels treat differently."""
    rng = np.random.default_rng(11)
    out = []
    # 3x3 pad 1 + ReLU, then 1x1 + residual Add + ReLU (ResNet's pattern, fused to one node).
    out.append(("resnet_block", _model([
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], kernel_shape=[1, 1]),
        helper.make_node("Add", ["c2", "x"], ["s"]),
        helper.make_node("Relu", ["s"], ["y"]),
    ], [_w(rng, "w1", (16, 16, 3, 3)), _b(rng, "b1", 16), _w(rng, "w2", (16, 16, 1, 1)), _b(rng, "b2", 16)], [2, 16, 12, 12])))
    # Depthwise stride 2 + Clip(0, 6) (MobileNet), then a grouped conv + LeakyRelu.
    out.append(("depthwise_group", _model([
        helper.make_node("Conv", ["x", "wd", "bd"], ["c1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2], group=24),
        helper.make_node("Clip", ["c1", "lo", "hi"], ["r1"]),
        helper.make_node("Conv", ["r1", "wg"], ["c2"], kernel_shape=[3, 3], group=4, dilations=[2, 2]),
        helper.make_node("LeakyRelu", ["c2"], ["y"], alpha=0.1),
    ], [_w(rng, "wd", (24, 1, 3, 3)), _b(rng, "bd", 24), numpy_helper.from_array(np.array(0, np.float32), "lo"),
        numpy_helper.from_array(np.array(6, np.float32), "hi"), _w(rng, "wg", (32, 6, 3, 3))], [3, 24, 17, 15])))
    # First layer (3 channels, 7x7 stride 2, SAME_UPPER), asymmetric pads, HardSigmoid and Sigmoid.
    out.append(("stem_autopad", _model([
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], kernel_shape=[7, 7], strides=[2, 2], auto_pad="SAME_UPPER"),
        helper.make_node("HardSigmoid", ["c1"], ["h1"], alpha=0.3, beta=0.4),
        helper.make_node("Conv", ["h1", "w2", "b2"], ["c2"], kernel_shape=[2, 3], pads=[0, 1, 1, 2]),
        helper.make_node("Sigmoid", ["c2"], ["y"]),
    ], [_w(rng, "w1", (16, 3, 7, 7)), _b(rng, "b1", 16), _w(rng, "w2", (8, 16, 2, 3)), _b(rng, "b2", 8)], [1, 3, 31, 29])))
    # Add whose other operand broadcasts ([1, C, 1, 1]): fused, but added by the Add kernel.
    out.append(("broadcast_add_tanh", _model([
        helper.make_node("Conv", ["x", "w1"], ["c1"], kernel_shape=[3, 3]),
        helper.make_node("Add", ["shift", "c1"], ["s"]),
        helper.make_node("Tanh", ["s"], ["y"]),
    ], [_w(rng, "w1", (8, 8, 3, 3)), numpy_helper.from_array(rng.standard_normal((1, 8, 1, 1)).astype(np.float32), "shift")], [2, 8, 9, 9])))
    # 1-D and 3-D convolutions, and a conv whose output is also a graph output (no fusion).
    out.append(("conv1d", _model([
        helper.make_node("Conv", ["x", "w1", "b1"], ["y"], kernel_shape=[5], pads=[2, 2], strides=[2]),
    ], [_w(rng, "w1", (12, 10, 5)), _b(rng, "b1", 12)], [2, 10, 40])))
    out.append(("conv3d", _model([
        helper.make_node("Conv", ["x", "w1", "b1"], ["y"], kernel_shape=[3, 3, 3], pads=[1, 1, 1, 1, 1, 1]),
    ], [_w(rng, "w1", (8, 4, 3, 3, 3)), _b(rng, "b1", 8)], [1, 4, 6, 7, 8])))
    return out


CASES = case_models()


@pytest.mark.parametrize("backend", list(BACKENDS))
@pytest.mark.parametrize("case", [c[0] for c in CASES])
def test_conv_matches_ort(berth_bin, tmp_path, monkeypatch, case, backend):
    _, model = next(c for c in CASES if c[0] == case)
    shape = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    for k, v in BACKENDS[backend].items():
        monkeypatch.setenv(k, v)
    path = tmp_path / f"{case}.onnx"
    onnx.save(model, str(path))
    x = np.random.default_rng(5).standard_normal(shape).astype(np.float32)
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    proc, got = berthpy.berth_run(berth_bin, path, {"x": x}, tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    y = got["y"]
    assert y.shape == want.shape
    scale = max(1.0, float(np.max(np.abs(want))))
    diff = float(np.max(np.abs(y.astype(np.float64) - want)))
    assert diff <= RTOL * scale, f"{case} on {backend}: max |diff| {diff:.3g} > {RTOL:g} x {scale:.3g}"
