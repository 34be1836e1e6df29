"""A region's 1x1 convolution fused with the 3x3 depthwise convolution after it (oneDNN's dw post-op,
PointwiseDepthwiseFusion.swift) against ONNX Runtime and against the same model with the fusion off
(BERTH_DNNL_DW_FUSION=0).

The model has what the fusion treats differently, at odd sizes (20 input channels, 95x93 pixels):
- A: 1x1 20→32, then 1x1 32→96 + Clip(0, 6), depthwise 3x3 stride 1 + Clip, 1x1 back to 32, residual Add (fused);
- B: from the input, 1x1 20→96 + Relu, depthwise 3x3 stride 2 without bias or activation (95x93 → 48x47),
  1x1 → 24 (fused only with BERTH_DNNL_DW_FUSION=all: 20 channels are padded to 32 in nChw16c);
- C: 1x1 24→48 + Clip whose output a depthwise reads and an Add reads too (never fused);
- D: 1x1 48→40 + Relu, depthwise stride 2 (40 channels: oneDNN offers only its reference kernel
  for the fusion, so the region keeps them apart);
and two outputs (A's sum, also read inside the region, and D's result).
By default the fusion runs at batch 1: whole on one thread (also inside whole-region batch slices of
one image: batch 5 on 2 threads), in output-channel pieces with 2 threads (96 channels: two pieces of
48, each still above the size from which oneDNN fuses; =split is the same); BERTH_DNNL_DW_FUSION=all
fuses also at batch 3 and with 2 intra-op threads (whole), =single only on one thread. ONEDNN_VERBOSE confirms that
the fused primitive ran for A and B (stride 1 and 2), and never for C or as oneDNN's reference kernel.

Tolerance: within 1e-4 of the output's largest magnitude plus 1e-5 absolute against ORT (fp32 sums in
another order), and the same bound between fused and unfused.
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
import berthpy  # noqa: E402,F401
from test_winograd_conv import run_berth_outputs  # noqa: E402

RTOL = 1e-4
ATOL = 1e-5
H, W = 95, 93


def _model() -> onnx.ModelProto:
    rng = np.random.default_rng(14)
    inits = [numpy_helper.from_array(np.array(0, np.float32), "lo"), numpy_helper.from_array(np.array(6, np.float32), "hi")]
    nodes = []

    def conv(x, y, cin, cout, k, stride=1, group=1, bias=True):
        w = (rng.standard_normal((cout, cin // group, k, k)) * np.sqrt(2.0 / (cin // group * k * k))).astype(np.float32)
        inits.append(numpy_helper.from_array(w, y + ".w"))
        ins = [x, y + ".w"]
        if bias:
            inits.append(numpy_helper.from_array((rng.standard_normal(cout) * 0.1).astype(np.float32), y + ".b"))
            ins.append(y + ".b")
        nodes.append(helper.make_node("Conv", ins, [y], kernel_shape=[k, k], pads=[k // 2] * 4, strides=[stride] * 2, group=group))
        return y

    def clip(x, y):
        nodes.append(helper.make_node("Clip", [x, "lo", "hi"], [y]))
        return y

    def relu(x, y):
        nodes.append(helper.make_node("Relu", [x], [y]))
        return y

    # A: 20→32, then expand + Clip, depthwise + Clip, project, residual.
    p0 = conv("x", "a0", 20, 32, 1)
    e = clip(conv(p0, "a1", 32, 96, 1), "a1c")
    d = clip(conv(e, "a2", 96, 96, 3, group=96), "a2c")
    p = conv(d, "a3", 96, 32, 1)
    nodes.append(helper.make_node("Add", [p, p0], ["a"]))
    # B: from the 20-channel input: expand + Relu, depthwise stride 2 without bias or activation, project.
    e = relu(conv("x", "b1", 20, 96, 1), "b1r")
    d = conv(e, "b2", 96, 96, 3, stride=2, group=96, bias=False)
    b = conv(d, "b3", 96, 24, 1)
    # C: the expanded tensor is read twice (depthwise and Add): not fused.
    e = clip(conv(b, "c1", 24, 48, 1), "c1c")
    d = clip(conv(e, "c2", 48, 48, 3, group=48), "c2c")
    nodes.append(helper.make_node("Add", [e, d], ["c"]))
    # D: 40 channels, oneDNN's reference kernel only: run apart.
    e = relu(conv("c", "d1", 48, 40, 1), "d1r")
    relu(conv(e, "d2", 40, 40, 3, stride=2, group=40), "y")
    g = helper.make_graph(nodes, "pointwise_depthwise", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 20, H, W])],
                          [helper.make_tensor_value_info("a", TensorProto.FLOAT, ["N", 32, H, W]),
                           helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 40, 24, 24])], initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    p = tmp_path_factory.mktemp("pwdw") / "pointwise_depthwise.onnx"
    onnx.save(_model(), str(p))
    return p


def _run(berth_bin, path, x, out, threads, env):
    return run_berth_outputs(berth_bin, path, x, out, threads, env, ("a", "y"))


@pytest.mark.parametrize("mode", ["default", "all", "split", "single"])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("batch", [1, 3, 5])
def test_pointwise_depthwise_matches_ort_and_unfused(berth_bin, model_path, tmp_path, batch, threads, mode):
    x = np.random.default_rng(batch).standard_normal((batch, 20, H, W)).astype(np.float32)
    want = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    env = {"ONEDNN_VERBOSE": "1"} if mode == "default" else {"ONEDNN_VERBOSE": "1", "BERTH_DNNL_DW_FUSION": mode}
    proc, fused = _run(berth_bin, model_path, x, tmp_path / "fused", threads, env)
    _, apart = _run(berth_bin, model_path, x, tmp_path / "apart", threads, {"BERTH_DNNL_DW_FUSION": "0"})
    execs = [line for line in proc.stdout.splitlines() if line.startswith("onednn_verbose,exec")]
    if execs:  # a build with oneDNN
        ran = [line for line in execs if "+dw:k3" in line]
        if mode in ("default", "split") and batch == 1 and threads == 2:
            assert any("+dw:k3s1p1" in line and "ic32oc48" in line for line in ran), "chain A did not run fused in two pieces"
        elif mode == "all" or (batch == 1 and threads == 1) or (batch == 5 and threads == 2):
            # batch 5 on 2 threads: whole-region slices of 1, 1, 1 and 2 images, each on a 1-thread pool.
            assert any("+dw:k3s1p1" in line and "ic32oc96" in line for line in ran), "chain A (stride 1) did not run fused"
            # 20 input channels (padded in nChw16c): fused only with BERTH_DNNL_DW_FUSION=all.
            assert any("+dw:k3s2p1" in line and "ic20oc96" in line for line in ran) == (mode == "all"), "chain B"
        else:
            assert not ran, "fused outside batch 1 / one thread without BERTH_DNNL_DW_FUSION=all"
        assert not any("ic24oc48" in line for line in ran), "chain C's expanded tensor has a second reader"
        assert not any("ref_fused" in line for line in execs), "oneDNN's reference fusion ran"
    for k, name in enumerate(("a", "y")):
        scale = float(np.max(np.abs(want[k])))
        assert fused[k].shape == want[k].shape and apart[k].shape == want[k].shape
        for label, got in (("fused", fused[k]), ("apart", apart[k])):
            err = float(np.max(np.abs(got.astype(np.float64) - want[k])))
            assert err <= RTOL * scale + ATOL, f"{label} {name} b{batch} t{threads} {mode}: {err:.3g} from ORT (scale {scale:.3g})"
        gap = float(np.max(np.abs(fused[k].astype(np.float64) - apart[k])))
        assert gap <= RTOL * scale + ATOL, f"fused vs apart {name} b{batch} t{threads} {mode}: {gap:.3g} (scale {scale:.3g})"
