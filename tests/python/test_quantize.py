"""`berth quantize --mode dynamic` (issue 15) against real references: onnx.checker accepts the file,
ONNX Runtime runs it with outputs equal to Berth's on the same file, its accuracy on scikit-learn's
digits stays within 1 point of the float model's (and of ONNX Runtime's own quantize_dynamic), and
bad input exits 2 leaving no output file."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, numpy_helper

from conftest import berth_path

REPO = Path(__file__).resolve().parents[2]
MLP = REPO / "examples" / "digits_mlp.onnx"


def digits():
    from sklearn.datasets import load_digits
    d = load_digits()
    return d.data.astype(np.float32), d.target.astype(np.int64)


def quantize(tmp: Path, src: Path, *extra: str, name: str = "q.onnx") -> tuple[Path, dict]:
    out = tmp / name
    p = subprocess.run([str(berth_path()), "quantize", str(src), str(out), "--json", *extra], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    return out, json.loads(p.stdout)


def berth_outputs(tmp: Path, model: Path, x: np.ndarray) -> dict[str, np.ndarray]:
    np.save(tmp / "x.npy", x)
    out = tmp / "out"
    name = onnx.load(str(model)).graph.input[0].name
    p = subprocess.run([str(berth_path()), "run", str(model), "--input", f"{name}={tmp / 'x.npy'}", "--output-dir", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    return {f.stem: np.load(f) for f in out.glob("*.npy")}


def ort_outputs(model: Path, x: np.ndarray) -> dict[str, np.ndarray]:
    s = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in s.get_outputs()], s.run(None, {s.get_inputs()[0].name: x})))


def probabilities(outputs: dict[str, np.ndarray]) -> np.ndarray:
    return next(v for v in outputs.values() if v.dtype.kind == "f" and v.ndim == 2)


@pytest.mark.parametrize("per_channel", [False, True])
def test_dynamic_int8_runs_in_ort_equal_to_berth_and_keeps_accuracy(tmp_path, per_channel):
    x, y = digits()
    q, report = quantize(tmp_path, MLP, *(["--per-channel"] if per_channel else []), "--iterations", "3")
    onnx.checker.check_model(onnx.load(str(q)), full_check=True)
    ops = [n.op_type for n in onnx.load(str(q)).graph.node]
    assert "MatMulInteger" in ops and "DynamicQuantizeLinear" in ops and "MatMul" not in ops, ops
    assert report["size_after"] < report["size_before"] / 2 and len(report["quantized"]) == 2, report
    # Same file, two runtimes: DynamicQuantizeLinear and MatMulInteger are exact integer work, so
    # only the float epilogue (scale, bias, ReLU, softmax) can differ: 1e-5 on probabilities.
    b, o = berth_outputs(tmp_path, q, x), ort_outputs(q, x)
    np.testing.assert_allclose(probabilities(b), probabilities(o), rtol=1e-5, atol=1e-5)
    # Accuracy: within 1 point of the float model, and no worse than ORT's own quantizer by > 1 point.
    float_acc = (probabilities(ort_outputs(MLP, x)).argmax(1) == y).mean()
    int8_acc = (probabilities(b).argmax(1) == y).mean()
    assert int8_acc >= float_acc - 0.01, (float_acc, int8_acc)
    from onnxruntime.quantization import QuantType, quantize_dynamic
    ref = tmp_path / "ort_q.onnx"
    quantize_dynamic(str(MLP), str(ref), weight_type=QuantType.QInt8, per_channel=per_channel)
    ort_acc = (probabilities(ort_outputs(ref, x)).argmax(1) == y).mean()
    assert int8_acc >= ort_acc - 0.01, (int8_acc, ort_acc)
    print(f"digits MLP accuracy: float {float_acc:.4f}, berth int8 {int8_acc:.4f}, ORT quantize_dynamic {ort_acc:.4f}")


def test_report_with_eval_data_shows_the_metric_change(tmp_path):
    x, y = digits()
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    _, report = quantize(tmp_path, MLP, "--eval-data", str(tmp_path / "x.npy"), "--labels", str(tmp_path / "y.npy"),
                         "--iterations", "3")
    acc_before, acc_after = report["metrics_before"]["accuracy"], report["metrics_after"]["accuracy"]
    float_acc = (probabilities(ort_outputs(MLP, x)).argmax(1) == y).mean()
    assert abs(acc_before - float_acc) < 1e-9 and acc_after >= acc_before - 0.01, report
    assert [l["batch"] for l in report["latency"]] == [1, 32] and all(l["after_p50_ms"] > 0 for l in report["latency"])


def test_gemm_with_transposed_weights_and_bias(tmp_path):
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(0)
    w = rng.normal(size=(8, 16)).astype(np.float32)  # transB: [N, K]
    c = rng.normal(size=(8,)).astype(np.float32)
    g = helper.make_graph([helper.make_node("Gemm", ["x", "w", "c"], ["y"], transB=1)], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 16])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 8])],
                          [numpy_helper.from_array(w, "w"), numpy_helper.from_array(c, "c")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    src = tmp_path / "gemm.onnx"
    onnx.save(m, str(src))
    q, _ = quantize(tmp_path, src, "--iterations", "0")
    x = rng.normal(size=(5, 16)).astype(np.float32)
    b, o = berth_outputs(tmp_path, q, x)["y"], ort_outputs(q, x)["y"]
    np.testing.assert_allclose(b, o, rtol=1e-5, atol=1e-5)
    # Dequantized result within the quantization error of the float Gemm: |x|·(w step) per term.
    exact = x @ w.T + c
    bound = np.abs(x).sum(1, keepdims=True) * (np.abs(w).max() / 127) + np.abs(x).max() / 127 * np.abs(w).sum(1)
    assert (np.abs(b - exact) <= bound).all()


def test_bad_input_exits_2_and_writes_nothing(tmp_path):
    cases = [
        ([str(REPO / "examples" / "digits_logreg.onnx"), str(tmp_path / "a.onnx")], "nothing to quantize"),
        ([str(tmp_path / "missing.onnx"), str(tmp_path / "b.onnx")], "cannot read"),
        ([str(MLP), str(tmp_path / "c.onnx"), "--mode", "static"], "static"),
        ([str(MLP), str(MLP)], "overwrite the input"),
    ]
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    cases.append(([str(tmp_path / "junk.onnx"), str(tmp_path / "d.onnx")], "cannot rewrite"))
    before = MLP.read_bytes()
    for args, word in cases:
        p = subprocess.run([str(berth_path()), "quantize", *args], capture_output=True, text=True, timeout=120)
        assert p.returncode == 2 and word in p.stderr, (args, p.returncode, p.stderr)
    assert MLP.read_bytes() == before
    assert not any(tmp_path.glob("[abcd].onnx")) and not any(tmp_path.glob(".*.part"))


@pytest.mark.parametrize("method,per_channel", [("minmax", False), ("minmax", True), ("percentile", False)])
def test_static_qdq_runs_in_ort_and_keeps_accuracy(tmp_path, method, per_channel):
    """QDQ with calibrated activations: ORT fuses it into int8 kernels, Berth runs the Q/DQ ops as
    written; both agree to 1e-3 on probabilities (ORT's integer kernels round the dequantized
    products differently from float math) and accuracy stays within 1 point of float and of ORT's
    own quantize_static on the same calibration rows."""
    x, y = digits()
    np.save(tmp_path / "cal.npy", x[:300])
    q, report = quantize(tmp_path, MLP, "--mode", "static", "--calibration", str(tmp_path / "cal.npy"), "--calibrate", method,
                         *(["--per-channel"] if per_channel else []), "--iterations", "0")
    model = onnx.load(str(q))
    onnx.checker.check_model(model, full_check=True)
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("QuantizeLinear") == 2 and ops.count("DequantizeLinear") == 4 and ops.count("MatMul") == 2, ops
    assert report["size_after"] < report["size_before"] / 2
    b, o = berth_outputs(tmp_path, q, x), ort_outputs(q, x)
    np.testing.assert_allclose(probabilities(b), probabilities(o), atol=1e-3)
    float_acc = (probabilities(ort_outputs(MLP, x)).argmax(1) == y).mean()
    int8_acc = (probabilities(b).argmax(1) == y).mean()
    assert int8_acc >= float_acc - 0.01, (float_acc, int8_acc)
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static

    name = onnx.load(str(MLP)).graph.input[0].name

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.rows = iter([{name: x[i:i + 1]} for i in range(300)])

        def get_next(self):
            return next(self.rows, None)
    ref = tmp_path / "ort_static.onnx"
    quantize_static(str(MLP), str(ref), Reader(), quant_format=QuantFormat.QDQ, activation_type=QuantType.QInt8,
                    weight_type=QuantType.QInt8, per_channel=per_channel,
                    calibrate_method=CalibrationMethod.Percentile if method == "percentile" else CalibrationMethod.MinMax)
    ort_acc = (probabilities(ort_outputs(ref, x)).argmax(1) == y).mean()
    assert int8_acc >= ort_acc - 0.01, (int8_acc, ort_acc)
    print(f"static {method} per_channel={per_channel}: float {float_acc:.4f}, berth int8 {int8_acc:.4f}, ORT quantize_static {ort_acc:.4f}")


def test_static_calibration_data_of_the_wrong_shape_or_dtype_exits_2(tmp_path):
    for name, arr, word in [("ints.npy", np.zeros((10, 64), np.int64), "int64"), ("narrow.npy", np.zeros((10, 5), np.float32), "calibration"),
                            ("empty.npy", np.zeros((0, 64), np.float32), "no rows")]:
        np.save(tmp_path / name, arr)
        p = subprocess.run([str(berth_path()), "quantize", str(MLP), str(tmp_path / "o.onnx"), "--mode", "static",
                            "--calibration", str(tmp_path / name)], capture_output=True, text=True, timeout=120)
        assert p.returncode == 2 and word in p.stderr, (name, p.stderr)
        assert not (tmp_path / "o.onnx").exists()
    p = subprocess.run([str(berth_path()), "quantize", str(MLP), str(tmp_path / "o.onnx"), "--mode", "static"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "--calibration" in p.stderr


@pytest.mark.parametrize("mode", ["static", "dynamic"])
def test_reduce_range_keeps_weights_within_7_bits(tmp_path, monkeypatch, mode):
    """--reduce-range in both modes: weights in [-63, 63] (what lets oneDNN's non-VNNI int8 kernels
    sum exactly), accuracy within 1 point of the float model, and (dynamic) ORT's outputs on the
    same file equal Berth's to 1e-5 on the probabilities, with Berth's oneDNN capped at AVX2."""
    x, y = digits()
    np.save(tmp_path / "cal.npy", x[:300])
    extra = ["--mode", "static", "--calibration", str(tmp_path / "cal.npy")] if mode == "static" else ["--mode", "dynamic"]
    q, _ = quantize(tmp_path, MLP, *extra, "--reduce-range", "--iterations", "0")
    model = onnx.load(str(q))
    onnx.checker.check_model(model, full_check=True)
    from onnx import numpy_helper
    weights = [numpy_helper.to_array(t) for t in model.graph.initializer if t.data_type == onnx.TensorProto.INT8 and len(t.dims) == 2]
    assert weights and max(int(np.abs(w).max()) for w in weights) <= 63
    b = berth_outputs(tmp_path, q, x)
    acc = (probabilities(b).argmax(1) == y).mean()
    float_acc = (probabilities(ort_outputs(MLP, x)).argmax(1) == y).mean()
    assert acc >= float_acc - 0.01, (acc, float_acc)
    if mode == "dynamic":
        monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
        capped = berth_outputs(tmp_path, q, x)
        np.testing.assert_allclose(probabilities(capped), probabilities(ort_outputs(q, x)), rtol=1e-5, atol=1e-5)


CNN = REPO / "examples" / "digits_cnn.onnx"


def digit_images():
    from sklearn.datasets import load_digits
    d = load_digits()
    return (d.images / 16.0).astype(np.float32)[:, None], d.target.astype(np.int64)


@pytest.mark.parametrize("mode,per_channel", [("dynamic", False), ("static", True), ("static", False)])
def test_conv_quantization_on_the_digits_cnn(tmp_path, mode, per_channel):
    """The residual digits CNN (scripts/make_digits_cnn.py): dynamic mode writes ORT's ConvInteger
    format for its four convolutions (MatMulInteger for the Gemm head), static mode QDQ around them
    (per-channel weights on axis 0). onnx.checker accepts the file; ORT and Berth agree on it (the
    integer sums are exact in both; the float epilogues and re-quantization of the next layer's input
    may move a value by one step, so 1e-2 of the logits' span, and the same predictions on ≥ 99.5 %
    of the images); accuracy stays within 1 point of the float model's."""
    x, y = digit_images()
    extra = ["--per-channel"] if per_channel else []
    if mode == "static":
        np.save(tmp_path / "cal.npy", x[:256])
        extra += ["--mode", "static", "--calibration", str(tmp_path / "cal.npy")]
    q, report = quantize(tmp_path, CNN, *extra, "--iterations", "0")
    model = onnx.load(str(q))
    onnx.checker.check_model(model, full_check=True)
    ops = [n.op_type for n in model.graph.node]
    if mode == "dynamic":
        assert ops.count("ConvInteger") == 4 and ops.count("MatMulInteger") == 1 and "Conv" not in ops, ops
    else:
        assert ops.count("Conv") == 4 and ops.count("DequantizeLinear") >= 9, ops
    assert len(report["quantized"]) == 5 and report["size_after"] < report["size_before"] / 2.5, report
    b, o = berth_outputs(tmp_path, q, x), ort_outputs(q, x)
    lb, lo = probabilities(b), probabilities(o)
    span = float(np.abs(lo).max())
    np.testing.assert_allclose(lb, lo, atol=1e-2 * span)
    assert (lb.argmax(1) == lo.argmax(1)).mean() >= 0.995
    float_acc = (probabilities(ort_outputs(CNN, x)).argmax(1) == y).mean()
    int8_acc = (lb.argmax(1) == y).mean()
    assert int8_acc >= float_acc - 0.01, (float_acc, int8_acc)
    print(f"digits CNN {mode} per_channel={per_channel}: float {float_acc:.4f}, berth int8 {int8_acc:.4f}")


def test_entropy_calibration_picks_ort_entropy_ranges(tmp_path):
    """--calibrate entropy against ONNX Runtime's EntropyCalibrater fed the same 64-row batches one
    collect_data call at a time (Berth calibrates in 64-row batches; ORT merges histograms across
    calls, widening them, and picks the KL-minimal window): each activation's scale equals
    (max(hi, 0) − min(lo, 0)) / 255 of ORT's range within one histogram bin of ORT's histogram."""
    from onnxruntime.quantization import CalibrationDataReader
    from onnxruntime.quantization.calibrate import CalibrationMethod, create_calibrator

    x, _ = digits()
    # Batches of growing range (the histograms widen) and a few outliers in the last one: the
    # KL-minimal window then clips them, where MinMax would stretch the range to include them.
    cal = x[:320] * np.linspace(0.5, 1.5, 320, dtype=np.float32)[:, None]
    cal[300:303, 20:23] = 120.0
    np.save(tmp_path / "cal.npy", cal)
    q, _ = quantize(tmp_path, MLP, "--mode", "static", "--calibration", str(tmp_path / "cal.npy"), "--calibrate", "entropy",
                    "--iterations", "0")
    model = onnx.load(str(q))
    onnx.checker.check_model(model, full_check=True)
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    scales = {n.input[0]: float(inits[n.input[1]]) for n in model.graph.node if n.op_type == "QuantizeLinear"}
    name = onnx.load(str(MLP)).graph.input[0].name

    class One(CalibrationDataReader):
        def __init__(self, rows):
            self.rows = iter([{name: rows}])

        def get_next(self):
            return next(self.rows, None)
    calibrator = create_calibrator(str(MLP), augmented_model_path=str(tmp_path / "aug.onnx"),
                                   calibrate_method=CalibrationMethod.Entropy)
    for s in range(0, len(cal), 64):
        calibrator.collect_data(One(cal[s:s + 64]))
    ranges = calibrator.compute_data()
    assert len(scales) == 2
    clipped = 0
    for act, scale in scales.items():
        r = ranges[act]
        lo, hi = (float(v) for v in r.range_value)
        edges = calibrator.collector.histogram_dict[act][1]
        want = (max(hi, 0) - min(lo, 0)) / 255
        assert abs(scale - want) <= float(edges[1] - edges[0]) / 255 + 1e-7, (act, scale, want, len(edges))
        observed = calibrator.collector.histogram_dict[act][2:4]  # the min and max seen (MinMax's range)
        minmax = (max(float(observed[1]), 0) - min(float(observed[0]), 0)) / 255
        clipped += want < minmax * 0.99
        print(f"{act}: berth scale {scale:.6g}, ORT entropy {want:.6g}, MinMax {minmax:.6g}, {len(edges) - 1} bins")
    assert clipped >= 1  # the entropy window really differs from MinMax somewhere


def test_cnn_calibration_of_the_wrong_shape_exits_2_and_writes_nothing(tmp_path):
    """Calibration rows shaped for the MLP ([N, 64]) or of int64 fed to the CNN ([N, 1, 8, 8]):
    exit 2 with a message naming the problem, the input untouched, no output or temporary file."""
    before = CNN.read_bytes()
    for name, arr in [("flat.npy", np.zeros((10, 64), np.float32)), ("ints.npy", np.zeros((10, 1, 8, 8), np.int64))]:
        np.save(tmp_path / name, arr)
        p = subprocess.run([str(berth_path()), "quantize", str(CNN), str(tmp_path / "o.onnx"), "--mode", "static",
                            "--calibration", str(tmp_path / name), "--calibrate", "entropy"], capture_output=True, text=True, timeout=120)
        assert p.returncode == 2 and "calibration" in p.stderr, (name, p.stderr)
    assert CNN.read_bytes() == before
    assert not (tmp_path / "o.onnx").exists() and not any(tmp_path.glob(".*.part"))


def test_reduce_range_digits_cnn_without_vnni(tmp_path, monkeypatch):
    """`--reduce-range` dynamic file of the digits CNN with oneDNN capped at AVX2 (a CPU without VNNI):
    its convolutions and Gemm run on oneDNN's int8 kernels (7-bit weights cannot saturate the 16-bit
    pair sums), the logits equal Berth's exact portable path (BERTH_DNNL=0) within 1e-5 of their span
    and ORT's on the same file within 1e-2 of it, and accuracy stays within 1 point of the float model's."""
    x, y = digit_images()
    q, _ = quantize(tmp_path, CNN, "--reduce-range", "--iterations", "0")
    weights = [numpy_helper.to_array(t) for t in onnx.load(str(q)).graph.initializer if t.data_type == TensorProto.INT8]
    assert weights and max(int(np.abs(w).max()) for w in weights) <= 64
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    monkeypatch.setenv("ONEDNN_VERBOSE", "1")
    p = subprocess.run([str(berth_path()), "perf", str(q), "--batch", "4", "--iterations", "1", "--warmup", "0"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert sum(1 for line in (p.stdout + p.stderr).splitlines() if line.startswith("onednn_verbose,exec,cpu,convolution") and "src_u8" in line) >= 4
    monkeypatch.delenv("ONEDNN_VERBOSE")
    capped = probabilities(berth_outputs(tmp_path, q, x))
    monkeypatch.setenv("BERTH_DNNL", "0")
    portable = probabilities(berth_outputs(tmp_path, q, x))
    monkeypatch.delenv("BERTH_DNNL")
    ref = probabilities(ort_outputs(q, x))
    span = float(np.abs(ref).max())
    np.testing.assert_allclose(capped, portable, rtol=1e-5, atol=1e-5 * span)
    np.testing.assert_allclose(capped, ref, atol=1e-2 * span)
    float_acc = (probabilities(ort_outputs(CNN, x)).argmax(1) == y).mean()
    assert (capped.argmax(1) == y).mean() >= float_acc - 0.01
