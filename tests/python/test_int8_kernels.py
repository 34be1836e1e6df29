"""Berth's int8 matmul kernels (oneDNN u8·s8 / s8·s8 → s32, weights packed once; issue 15)
against references: integer outputs (MatMulInteger) equal a numpy int64 product and ONNX Runtime's
exactly, with operands at the ends of their ranges and K large enough that a saturating 16-bit
pair sum (non-VNNI `vpmaddubsw`) would show; the same with oneDNN turned off (BERTH_DNNL=0, the
portable path). Quantized float outputs (the fused dynamic and QDQ matmuls) agree with ORT on the
same file within one output quantization step."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from conftest import berth_path

ONNX_TYPE = {np.uint8: TensorProto.UINT8, np.int8: TensorProto.INT8}


def berth_run(tmp: Path, model: Path, x: np.ndarray, env: dict | None = None) -> np.ndarray:
    np.save(tmp / "x.npy", x)
    out = tmp / "out"
    p = subprocess.run([str(berth_path()), "run", str(model), "--input", f"x={tmp / 'x.npy'}", "--output-dir", str(out)],
                       capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})})
    assert p.returncode == 0, p.stderr
    return np.load(out / "y.npy")


def ort_run(model: Path, x: np.ndarray) -> np.ndarray | None:
    try:
        s = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
        return s.run(None, {"x": x})[0]
    except Exception:  # ORT has no kernel for this type combination or zero-point shape (per-row A)
        return None


def matmul_integer_model(path: Path, a_type, b: np.ndarray, za: np.ndarray | None, zb: np.ndarray | None, a_shape) -> None:
    inits = [numpy_helper.from_array(b, "b")]
    inputs = ["x", "b"]
    if za is not None or zb is not None:
        inputs.append("za" if za is not None else "")
        if za is not None:
            inits.append(numpy_helper.from_array(za, "za"))
    if zb is not None:
        inputs.append("zb")
        inits.append(numpy_helper.from_array(zb, "zb"))
    g = helper.make_graph([helper.make_node("MatMulInteger", inputs, ["y"])], "g",
                          [helper.make_tensor_value_info("x", ONNX_TYPE[a_type], a_shape)],
                          [helper.make_tensor_value_info("y", TensorProto.INT32, [None] * len(a_shape))], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, str(path))


CASES = [
    # (A type, B type, K, N, A zero point, B zero point)
    (np.uint8, np.int8, 512, 40, "scalar", None),       # ORT's dynamic format
    (np.uint8, np.int8, 300, 17, "scalar", "scalar"),
    (np.uint8, np.int8, 64, 33, "row", "column"),
    (np.int8, np.int8, 256, 24, "scalar", None),        # QDQ's signed activations
    (np.uint8, np.uint8, 128, 16, "scalar", "scalar"),  # uint8 weights (older ORT default)
    (np.int8, np.uint8, 96, 8, None, "column"),
]


@pytest.mark.parametrize("a_type,b_type,k,n,za_kind,zb_kind", CASES)
def test_matmul_integer_is_exact(tmp_path, a_type, b_type, k, n, za_kind, zb_kind):
    rng = np.random.default_rng(k + n)
    info_a, info_b = np.iinfo(a_type), np.iinfo(b_type)
    rows = 7
    x = rng.integers(info_a.min, info_a.max + 1, size=(2, rows, k)).astype(a_type)
    x[0, 0, :] = info_a.max  # extreme rows and columns: a 16-bit pair sum would saturate here
    x[0, 1, :] = info_a.min
    b = rng.integers(info_b.min, info_b.max + 1, size=(k, n)).astype(b_type)
    b[:, 0] = info_b.min
    b[:, 1] = info_b.max
    za = {"scalar": np.array(rng.integers(info_a.min, info_a.max + 1), a_type), "row": rng.integers(info_a.min, info_a.max + 1, rows).astype(a_type),
          None: None}[za_kind]
    zb = {"scalar": np.array(rng.integers(info_b.min, info_b.max + 1), b_type), "column": rng.integers(info_b.min, info_b.max + 1, n).astype(b_type),
          None: None}[zb_kind]
    model = tmp_path / "mmi.onnx"
    matmul_integer_model(model, a_type, b, za, zb, ["N", rows, k])
    a64 = x.astype(np.int64) - (0 if za is None else (za.astype(np.int64)[:, None] if za.ndim == 1 else za.astype(np.int64)))
    b64 = b.astype(np.int64) - (0 if zb is None else zb.astype(np.int64))
    want = (a64 @ b64).astype(np.int32)
    got = berth_run(tmp_path, model, x)
    assert got.dtype == np.int32 and np.array_equal(got, want)
    assert np.array_equal(berth_run(tmp_path, model, x, {"BERTH_DNNL": "0"}), want)  # portable path
    ref = ort_run(model, x)
    if ref is not None:
        assert np.array_equal(got, ref)
    # Batch 1 and another batch size on the same session-less run: a second primitive shape.
    assert np.array_equal(berth_run(tmp_path, model, x[:1]), want[:1])


def qlinear_matmul_model(path: Path, b: np.ndarray, bs: np.ndarray, k: int) -> None:
    inits = [numpy_helper.from_array(np.array(0.02, np.float32), "as"), numpy_helper.from_array(np.array(128, np.uint8), "az"),
             numpy_helper.from_array(b, "b"), numpy_helper.from_array(bs, "bs"),
             numpy_helper.from_array(np.zeros(bs.shape, np.int8), "bz"),
             numpy_helper.from_array(np.array(0.5, np.float32), "ys"), numpy_helper.from_array(np.array(10, np.uint8), "yz")]
    g = helper.make_graph([helper.make_node("QLinearMatMul", ["x", "as", "az", "b", "bs", "bz", "ys", "yz"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.UINT8, ["N", k])],
                          [helper.make_tensor_value_info("y", TensorProto.UINT8, ["N", None])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.save(m, str(path))


def test_qlinear_matmul_matches_ort(tmp_path):
    """QLinearMatMul requantizes the exact sums: Berth and ORT round the same product
    (a_scale·b_scale/y_scale in float) half to even, so outputs may differ by at most 1 where ORT's
    fixed-point requantization rounds a tie the other way; nearly all are equal."""
    rng = np.random.default_rng(3)
    k, n = 200, 12
    b = rng.integers(-128, 128, size=(k, n)).astype(np.int8)
    model = tmp_path / "qlm.onnx"
    qlinear_matmul_model(model, b, np.array(0.004, np.float32), k)
    x = rng.integers(0, 256, size=(9, k)).astype(np.uint8)
    got, ref = berth_run(tmp_path, model, x), ort_run(model, x)
    sums = (x.astype(np.int64) - 128) @ b.astype(np.int64)
    want = np.clip(np.rint(sums * np.float32(0.02 * 0.004 / 0.5)) + 10, 0, 255).astype(np.uint8)
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 1
    assert np.array_equal(got, berth_run(tmp_path, model, x, {"BERTH_DNNL": "0"}))
    if ref is not None:
        assert np.abs(got.astype(int) - ref.astype(int)).max() <= 1 and (got == ref).mean() > 0.99


def mlp(path: Path, rng, k=96, h=64, n=10, gemm=False) -> None:
    w1 = (rng.normal(size=(k, h)) / np.sqrt(k)).astype(np.float32)
    b1 = (rng.normal(size=h) * 0.1).astype(np.float32)
    w2 = (rng.normal(size=(n, h) if gemm else (h, n)) / np.sqrt(h)).astype(np.float32)
    b2 = (rng.normal(size=n) * 0.1).astype(np.float32)
    second = (helper.make_node("Gemm", ["r", "w2", "b2"], ["y"], transB=1) if gemm
              else helper.make_node("MatMul", ["r", "w2"], ["m2"]))
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["m1"]), helper.make_node("Add", ["m1", "b1"], ["a1"]),
             helper.make_node("Relu", ["a1"], ["r"]), second]
    if not gemm:
        nodes.append(helper.make_node("Add", ["m2", "b2"], ["y"]))
    g = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", k])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", n])],
                          [numpy_helper.from_array(a, nm) for a, nm in [(w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2")]])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.save(m, str(path))


@pytest.mark.parametrize("fmt,gemm,per_channel", [("dynamic", False, False), ("dynamic", True, True),
                                                  ("qdq", False, False), ("qdq", True, True)])
def test_fused_quantized_matmuls_match_ort(tmp_path, fmt, gemm, per_channel):
    """ORT's own quantizer writes the file; Berth fuses it (QuantizedMatMulFusion) into int8 sums.
    Both runtimes then compute float(Σ int) · scales + bias, so the outputs agree within one
    quantization step of the output (x_scale · w_scale · |Σ|-independent, here bounded by
    1e-3 relative to the output range) and Berth with and without oneDNN agree to 1e-5."""
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType, quantize_dynamic,
                                          quantize_static)
    rng = np.random.default_rng(7)
    src, q = tmp_path / "mlp.onnx", tmp_path / "q.onnx"
    mlp(src, rng, gemm=gemm)
    x = rng.normal(size=(33, 96)).astype(np.float32)
    if fmt == "dynamic":
        quantize_dynamic(str(src), str(q), weight_type=QuantType.QInt8, per_channel=per_channel)
    else:
        class Reader(CalibrationDataReader):
            def __init__(self):
                self.rows = iter([{"x": x[i:i + 1]} for i in range(len(x))])

            def get_next(self):
                return next(self.rows, None)
        quantize_static(str(src), str(q), Reader(), quant_format=QuantFormat.QDQ, activation_type=QuantType.QInt8,
                        weight_type=QuantType.QInt8, per_channel=per_channel)
    onnx.checker.check_model(onnx.load(str(q)), full_check=True)
    got, ref = berth_run(tmp_path, q, x), ort_run(q, x)
    portable = berth_run(tmp_path, q, x, {"BERTH_DNNL": "0"})
    span = float(np.abs(ref).max())
    np.testing.assert_allclose(got, ref, atol=1e-3 * span)
    np.testing.assert_allclose(got, portable, rtol=1e-5, atol=1e-5 * span)
    # And the int8 model stays close to the float one (what quantization costs, not a kernel bug).
    exact = ort_run(src, x)
    assert np.abs(got - exact).max() <= 0.1 * span


def test_shared_dynamic_quantization_feeds_three_matmuls(tmp_path):
    """ORT's quantize_dynamic gives Q, K and V one DynamicQuantizeLinear; Berth keeps it and each
    fused matmul reads its uint8 output (dynamic = 2), one with an absorbed bias and Relu. Against
    ORT on the same file within 1e-3 of the output range (one quantization step of the sums), and
    oneDNN's epilogue against the portable path within 1e-5 (float rounding only)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    rng = np.random.default_rng(11)
    k, n = 64, 48
    ws = [rng.normal(size=(k, n)).astype(np.float32) / 8 for _ in range(3)]
    bias = rng.normal(size=n).astype(np.float32)
    nodes = [helper.make_node("MatMul", ["x", f"w{i}"], [f"m{i}"]) for i in range(3)]
    nodes += [helper.make_node("Add", ["m0", "b"], ["a0"]), helper.make_node("Relu", ["a0"], ["r0"]),
              helper.make_node("Add", ["r0", "m1"], ["s"]), helper.make_node("Add", ["s", "m2"], ["y"])]
    g = helper.make_graph(nodes, "qkv", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", k])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", n])],
                          [numpy_helper.from_array(w, f"w{i}") for i, w in enumerate(ws)] + [numpy_helper.from_array(bias, "b")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    src, q = tmp_path / "qkv.onnx", tmp_path / "q.onnx"
    onnx.save(m, str(src))
    quantize_dynamic(str(src), str(q), weight_type=QuantType.QInt8)
    qm = onnx.load(str(q))
    dql = [nd for nd in qm.graph.node if nd.op_type == "DynamicQuantizeLinear"]
    assert len(dql) == 1 and sum(dql[0].output[0] in nd.input for nd in qm.graph.node) == 3
    x = rng.normal(size=(37, k)).astype(np.float32)
    got, ref = berth_run(tmp_path, q, x), ort_run(q, x)
    portable = berth_run(tmp_path, q, x, {"BERTH_DNNL": "0"})
    span = float(np.abs(ref).max())
    np.testing.assert_allclose(got, ref, atol=1e-3 * span)
    np.testing.assert_allclose(got, portable, rtol=1e-5, atol=1e-5 * span)


@pytest.mark.parametrize("n", [15, 16, 17, 1000, 4099])
def test_dynamic_quantize_linear_equals_ort_across_simd_lanes_and_tails(tmp_path, n):
    """DynamicQuantizeLinear's range and quantize sweeps run 16 (AVX-512) or 8 (AVX2) lanes at a time
    with a scalar tail: outputs equal ORT's exactly, including values exactly halfway between two
    levels (rounded half to even), for lengths below, at and past a multiple of 16."""
    g = helper.make_graph([helper.make_node("DynamicQuantizeLinear", ["x"], ["y", "s", "z"])], "dql",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [n])],
                          [helper.make_tensor_value_info("y", TensorProto.UINT8, [n]), helper.make_tensor_value_info("s", TensorProto.FLOAT, []),
                           helper.make_tensor_value_info("z", TensorProto.UINT8, [])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    path = tmp_path / "dql.onnx"
    onnx.save(m, str(path))
    rng = np.random.default_rng(n)
    x = (rng.normal(size=n) * 3).astype(np.float32)
    step = np.float32((x.max() - min(0, x.min())) / 255)
    x[:min(n, 8)] = (np.arange(min(n, 8)) + 0.5).astype(np.float32) * step  # ties
    np.save(tmp_path / "x.npy", x)
    p = subprocess.run([str(berth_path()), "run", str(path), "--input", f"x={tmp_path / 'x.npy'}", "--output-dir", str(tmp_path / "o")],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    y, s, z = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    np.testing.assert_array_equal(np.load(tmp_path / "o" / "y.npy"), y)
    assert np.load(tmp_path / "o" / "s.npy") == s and np.load(tmp_path / "o" / "z.npy") == z


AVX2 = {"ONEDNN_MAX_CPU_ISA": "AVX2"}  # oneDNN as on a CPU without VNNI: u8·s8 pairs summed in 16 bits


def onednn_int8_matmuls(tmp: Path, model: Path, x: np.ndarray, env: dict) -> int:
    """How many int8 matmul primitives oneDNN executed for one `berth run` (ONEDNN_VERBOSE): matmuls,
    or without VNNI the 1×1 convolutions they run as."""
    np.save(tmp / "x.npy", x)
    p = subprocess.run([str(berth_path()), "run", str(model), "--input", f"x={tmp / 'x.npy'}", "--output-dir", str(tmp / "v")],
                       capture_output=True, text=True, timeout=300, env={**os.environ, **env, "ONEDNN_VERBOSE": "1"})
    assert p.returncode == 0, p.stderr
    return sum(1 for line in (p.stdout + p.stderr).splitlines() if line.startswith("onednn_verbose,exec") and (",matmul," in line or ",convolution," in line)
               and "wei_s8" in line)


@pytest.mark.parametrize("a_type,b_type,za_kind,zb_kind", [(np.uint8, np.int8, "scalar", None), (np.int8, np.int8, "scalar", None),
                                                           (np.uint8, np.uint8, "scalar", "scalar")])
def test_seven_bit_weights_run_on_onednn_without_vnni_and_stay_exact(tmp_path, a_type, b_type, za_kind, zb_kind):
    """Without VNNI (oneDNN capped at AVX2) weights within ±64 (`--reduce-range`, after a uint8
    weight's shift by 128) go to oneDNN's int8 kernels: 255·64·2 = 32640 fits the 16-bit pair sums,
    so outputs equal a numpy int64 product exactly, with activations at both ends of their range;
    full 8-bit weights keep the exact portable path (oneDNN is not called for them)."""
    rng = np.random.default_rng(5)
    k, n, rows = 384, 24, 6
    info_a = np.iinfo(a_type)
    x = rng.integers(info_a.min, info_a.max + 1, size=(rows, k)).astype(a_type)
    x[0, :], x[1, :] = info_a.max, info_a.min
    centre = 128 if b_type == np.uint8 else 0
    b = (rng.integers(-64, 65, size=(k, n)) + centre).astype(b_type)
    b[:, 0], b[:, 1] = centre - 64, centre + 64  # the extremes that still fit
    za = np.array(rng.integers(info_a.min, info_a.max + 1), a_type)
    zb = np.array(centre, b_type) if zb_kind else None
    model = tmp_path / "mmi7.onnx"
    matmul_integer_model(model, a_type, b, za, zb, ["N", k])
    want = ((x.astype(np.int64) - za.astype(np.int64)) @ (b.astype(np.int64) - centre)).astype(np.int32)
    got = berth_run(tmp_path, model, x, AVX2)
    assert np.array_equal(got, want)
    assert onednn_int8_matmuls(tmp_path, model, x, AVX2) >= 1
    ref = ort_run(model, x)
    if ref is not None:
        assert np.array_equal(got, ref)
    # One weight past ±64 (here 127 / −128): a pair sum could saturate, so oneDNN is not used.
    wide = b.copy()
    wide[0, 2] = np.iinfo(b_type).max
    wide[1, 3] = np.iinfo(b_type).min
    matmul_integer_model(model, a_type, wide, za, zb, ["N", k])
    want = ((x.astype(np.int64) - za.astype(np.int64)) @ (wide.astype(np.int64) - centre)).astype(np.int32)
    assert np.array_equal(berth_run(tmp_path, model, x, AVX2), want)
    assert onednn_int8_matmuls(tmp_path, model, x, AVX2) == 0


def test_reduce_range_dynamic_file_runs_fused_on_onednn_without_vnni(tmp_path):
    """`berth quantize --mode dynamic --reduce-range`: the fused QuantizedMatMuls run on oneDNN's
    int8 kernels with oneDNN capped at AVX2 and agree with ORT on the same file within 1e-3 of the
    output range (one quantization step of the sums; the integer sums are exact) and with Berth's
    portable path to 1e-5 (float rounding of the epilogue only)."""
    rng = np.random.default_rng(13)
    src, q = tmp_path / "mlp.onnx", tmp_path / "q.onnx"
    mlp(src, rng, k=200, h=96)
    p = subprocess.run([str(berth_path()), "quantize", str(src), str(q), "--mode", "dynamic", "--reduce-range", "--iterations", "0"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    weights = [numpy_helper.to_array(t) for t in onnx.load(str(q)).graph.initializer if t.data_type == TensorProto.INT8 and len(t.dims) == 2]
    assert len(weights) == 2 and max(int(np.abs(w).max()) for w in weights) <= 63
    x = rng.normal(size=(33, 200)).astype(np.float32)
    got, ref = berth_run(tmp_path, q, x, AVX2), ort_run(q, x)
    span = float(np.abs(ref).max())
    np.testing.assert_allclose(got, ref, atol=1e-3 * span)
    np.testing.assert_allclose(got, berth_run(tmp_path, q, x, {"BERTH_DNNL": "0"}), rtol=1e-5, atol=1e-5 * span)
    assert onednn_int8_matmuls(tmp_path, q, x, AVX2) == 2


def conv_integer_model(path: Path, w: np.ndarray, zx: np.ndarray, c: int) -> None:
    g = helper.make_graph([helper.make_node("ConvInteger", ["x", "w", "zx"], ["y"], pads=[1, 1, 1, 1])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.UINT8, ["N", c, 9, 7])],
                          [helper.make_tensor_value_info("y", TensorProto.INT32, [None] * 4)],
                          [numpy_helper.from_array(w, "w"), numpy_helper.from_array(zx, "zx")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, str(path))


def conv_reference(x: np.ndarray, zx: int, w: np.ndarray) -> np.ndarray:
    """ConvInteger 3×3, pads 1, stride 1, in int64 (numpy's sliding windows)."""
    xp = np.pad(x.astype(np.int64) - zx, ((0, 0), (0, 0), (1, 1), (1, 1)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (3, 3), axis=(2, 3))  # [N, C, H, W, 3, 3]
    return np.einsum("nchwij,mcij->nmhw", win, w.astype(np.int64)).astype(np.int32)


def test_seven_bit_conv_weights_run_on_onednn_without_vnni_and_stay_exact(tmp_path):
    """The convolution twin of the matmul test above: without VNNI, uint8 activations with weights
    within ±64 run on oneDNN's int8 convolution (exact: the 16-bit pair sums cannot saturate) and equal
    an int64 numpy convolution; one weight at 127 keeps the exact portable path (no oneDNN call)."""
    rng = np.random.default_rng(17)
    n, c, m = 2, 24, 16
    x = rng.integers(0, 256, size=(n, c, 9, 7)).astype(np.uint8)
    x[0, :, :2] = 255  # rows of the largest activation against the largest weights
    w = rng.integers(-64, 65, size=(m, c, 3, 3)).astype(np.int8)
    w[0], w[1] = 64, -64
    zx = np.array(3, np.uint8)
    model = tmp_path / "convi7.onnx"
    conv_integer_model(model, w, zx, c)
    assert np.array_equal(berth_run(tmp_path, model, x, AVX2), conv_reference(x, 3, w))
    assert onednn_int8_matmuls(tmp_path, model, x, AVX2) >= 1
    wide = w.copy()
    wide[2, 0, 1, 1] = 127
    conv_integer_model(model, wide, zx, c)
    assert np.array_equal(berth_run(tmp_path, model, x, AVX2), conv_reference(x, 3, wide))
    assert onednn_int8_matmuls(tmp_path, model, x, AVX2) == 0
