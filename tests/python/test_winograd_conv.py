"""Winograd 3x3 convolutions in blocked-layout regions (BlockedConvLayout.swift) and whole-region
batch slices (RegionBatchSlices.swift) against ONNX Runtime and against the same model with both off
(BERTH_DNNL_WINOGRAD=0: oneDNN's direct kernels; BERTH_REGION_BATCH_SLICES=0: convolutions split
one by one).

The model has what the layout choice treats differently: 3x3 stride-1 convolutions with channel
counts that are not multiples of 16 (40 → 72, 72 → 88), padded and unpadded (a 19x19 output from
21x21), one with a residual Add + Relu fused as post-ops, a stride-2 3x3 and a 1x1 that follow an
nChw16c value without being Winograd candidates, a depthwise 3x3 + Clip (nChw16c at batch ≥ 2), a Concat, BatchNormalization, MaxPool and
GlobalAveragePool inside the region; at batch 1, 3 and 5 with 1 and 2 intra-op threads (channel
pieces at batch 1, per-convolution batch pieces at 3, whole-region slices of 1, 1, 1 and 2 images at 5:
17,640 activation elements per image, above RegionBatchSlices' minimum), and at batch 9 (slices on
2 threads, and of 4 and 5 images one after the other on 1 thread, for memory).
ONEDNN_VERBOSE confirms a Winograd kernel ran (else the test would only compare direct kernels) and,
at batch 5 on 2 threads and at batch 9, that the pooling ran on slices (no whole-batch pooling primitive).

Tolerance: within 1e-4 of the output's largest magnitude plus 1e-5 absolute against ORT (fp32 sums
in another order, Winograd's transforms add rounding of the same size as the direct kernel's: ~1e-6
of the magnitude per layer, measured against a double-precision loop), and the same bound between
Winograd on and off.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import berthpy  # noqa: E402

RTOL = 1e-4
ATOL = 1e-5


def _model() -> onnx.ModelProto:
    rng = np.random.default_rng(13)
    inits = []

    def conv(x, y, cin, cout, k, stride=1, pad=None):
        p = k // 2 if pad is None else pad
        w = (rng.standard_normal((cout, cin, k, k)) * np.sqrt(2.0 / (cin * k * k))).astype(np.float32)
        b = (rng.standard_normal(cout) * 0.1).astype(np.float32)
        inits.extend([numpy_helper.from_array(w, y + ".w"), numpy_helper.from_array(b, y + ".b")])
        return helper.make_node("Conv", [x, y + ".w", y + ".b"], [y], kernel_shape=[k, k], pads=[p] * 4, strides=[stride] * 2)

    nodes = [
        conv("x", "c0", 40, 72, 3), helper.make_node("Relu", ["c0"], ["r0"]),
        conv("r0", "c1", 72, 72, 3), helper.make_node("Add", ["c1", "r0"], ["s1"]), helper.make_node("Relu", ["s1"], ["r1"]),
        conv("r1", "c2", 72, 88, 3, pad=0), helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("MaxPool", ["r2"], ["p2"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1]),
        conv("p2", "c3", 88, 40, 3, stride=2), helper.make_node("Relu", ["c3"], ["r3"]),
        helper.make_node("Conv", ["r3", "dw.w", "dw.b"], ["dw"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=40),
        helper.make_node("Clip", ["dw", "lo", "hi"], ["d3"]),
        conv("d3", "c3b", 40, 20, 1), helper.make_node("Concat", ["r3", "c3b"], ["cat"], axis=1),
        helper.make_node("BatchNormalization", ["cat", "bn.s", "bn.b", "bn.m", "bn.v"], ["bn"]),
        conv("bn", "c4", 60, 24, 1),
        helper.make_node("GlobalAveragePool", ["c4"], ["g"]),
        helper.make_node("Flatten", ["g"], ["y"]),
    ]
    inits += [numpy_helper.from_array((rng.standard_normal((40, 1, 3, 3)) / 3).astype(np.float32), "dw.w"),
              numpy_helper.from_array((rng.standard_normal(40) * 0.1).astype(np.float32), "dw.b"),
              numpy_helper.from_array(np.array(0, np.float32), "lo"), numpy_helper.from_array(np.array(6, np.float32), "hi")]
    for suffix, v in (("s", 1 + 0.1 * rng.standard_normal(60)), ("b", 0.1 * rng.standard_normal(60)),
                      ("m", 0.1 * rng.standard_normal(60)), ("v", 1 + 0.1 * np.abs(rng.standard_normal(60)))):
        inits.append(numpy_helper.from_array(v.astype(np.float32), "bn." + suffix))
    g = helper.make_graph(nodes, "winograd", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 40, 21, 21])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 24])], initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    p = tmp_path_factory.mktemp("wino") / "winograd.onnx"
    onnx.save(_model(), str(p))
    return p


def run_berth_outputs(berth_bin, path, x, out, threads, env, names):
    """`berth run` on input `x` with extra environment `env`: the process and the named outputs."""
    feeds = out.parent / f"{out.name}.x.npy"
    np.save(feeds, x)
    cmd = [str(berth_bin), "run", str(path), "--input", f"x={feeds}", "--output-dir", str(out), "--threads", str(threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env={**os.environ, **env})
    assert proc.returncode == 0, proc.stderr
    return proc, [np.load(out / f"{n}.npy") for n in names]


def _run(berth_bin, path, x, out, threads, env):
    proc, (y,) = run_berth_outputs(berth_bin, path, x, out, threads, env, ("y",))
    return proc, y


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("batch", [1, 3, 5, 9])
def test_winograd_region_matches_ort_and_direct(berth_bin, model_path, tmp_path, batch, threads):
    x = np.maximum(np.random.default_rng(batch).standard_normal((batch, 40, 21, 21)), 0).astype(np.float32)
    want = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    proc, wino = _run(berth_bin, model_path, x, tmp_path / "wino", threads, {"ONEDNN_VERBOSE": "1"})
    _, direct = _run(berth_bin, model_path, x, tmp_path / "direct", threads,
                     {"BERTH_DNNL_WINOGRAD": "0", "BERTH_REGION_BATCH_SLICES": "0"})
    if "onednn_verbose" in proc.stdout + proc.stderr:  # a build with oneDNN: a Winograd kernel must have run
        assert "wino" in proc.stdout + proc.stderr, "no Winograd convolution ran"
        if (batch == 5 and threads == 2) or batch == 9:  # whole-region slices: even the pooling runs per slice
            pools = [l for l in proc.stdout.splitlines() if ",exec," in l and ",pooling" in l]
            assert pools and not any(f"mb{batch}ic" in l for l in pools), "the region did not run in batch slices"
    scale = float(np.max(np.abs(want)))
    for name, y in (("winograd", wino), ("direct", direct)):
        assert y.shape == want.shape
        err = float(np.max(np.abs(y.astype(np.float64) - want)))
        assert err <= RTOL * scale + ATOL, f"{name} b{batch} t{threads}: {err:.3g} from ORT (scale {scale:.3g})"
    gap = float(np.max(np.abs(wino.astype(np.float64) - direct)))
    assert gap <= RTOL * scale + ATOL, f"winograd vs direct b{batch} t{threads}: {gap:.3g} (scale {scale:.3g})"


def _grayscale_cnn(path):
    """MNIST-shaped: Conv(1→16, 3x3, pad 1) → Relu → MaxPool 2 → Conv(16→32, 3x3, pad 1) → Relu."""
    rng = np.random.default_rng(7)
    inits = [numpy_helper.from_array((rng.standard_normal(s) * 0.3).astype(np.float32), n)
             for n, s in (("w1", (16, 1, 3, 3)), ("b1", (16,)), ("w2", (32, 16, 3, 3)), ("b2", (32,)))]
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Conv", ["p1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c2"], ["y"])]
    g = helper.make_graph(nodes, "gray", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 20, 20])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.save(m, str(path))


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("batch", [1, 3])
def test_grayscale_first_layer_writes_blocked(berth_bin, tmp_path, batch, threads):
    # A one-channel input convolves straight into nChw16c (oneDNN's first-layer kernel reading the
    # plain NCHW input), where NHWC brgconv ran before: same results as ORT and as the NHWC path.
    path = tmp_path / "gray.onnx"
    _grayscale_cnn(path)
    x = np.random.default_rng(batch).standard_normal((batch, 1, 20, 20)).astype(np.float32)
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    proc, got = _run(berth_bin, path, x, tmp_path / "blocked", threads, {"ONEDNN_VERBOSE": "1"})
    _, nhwc = _run(berth_bin, path, x, tmp_path / "nhwc", threads, {"BERTH_DNNL_FIRST_16C": "0"})
    scale = max(1.0, float(np.abs(want).max()))
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * scale)
    np.testing.assert_allclose(got, nhwc, rtol=0, atol=1e-5 * scale)
    log = proc.stdout + proc.stderr
    if "onednn_verbose" in log and (batch == 1 or threads == 1):
        first = [l for l in log.splitlines() if ",exec," in l and ",convolution," in l and "ic1oc16" in l]
        assert first and all("src_f32::blocked:abcd" in l and "dst_f32::blocked:aBcd16b" in l for l in first), first
