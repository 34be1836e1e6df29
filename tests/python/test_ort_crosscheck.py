"""Cross-check `berth run` against ONNX Runtime (CPUExecutionProvider).

Run:   .venv/bin/python -m pytest tests/python -q
The berth binary is taken from $BERTH_BIN, else <repo>/.build/release/berth,
else <repo>/.build/debug/berth. If none exists the tests FAIL (they never skip).

Models are (re)built into a temporary directory with scripts/make_examples.py.
Float outputs must match ORT within ATOL (max abs diff); integer / bool outputs
must match exactly; dtypes and shapes must match exactly.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import berthpy  # noqa: E402

REPO_ROOT = berthpy.REPO_ROOT
ATOL = 1e-4
RUN_TIMEOUT_S = 600

mk = berthpy.load_script("make_examples")


# ---------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="session")
def models(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("models")
    paths = dict(mk.build_generated(d / "generated", verbose=False))
    digits = mk.build_digits(d, verbose=False)
    paths["digits"] = digits["model"]
    paths["digits_sample"] = digits["sample"]
    return paths


# ---------------------------------------------------------------------------
# helpers


def run_berth(berth: Path, model: Path, inputs: dict[str, np.ndarray], work: Path):
    """Run `berth run`; returns (CompletedProcess, {output name: array})."""
    work.mkdir(parents=True, exist_ok=True)
    return berthpy.berth_run(berth, model, inputs, work / "out", timeout=RUN_TIMEOUT_S)


def run_ort(model: Path, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, inputs)))


def assert_matches_ort(berth: Path, model: Path, inputs: dict[str, np.ndarray], work: Path) -> dict[str, float]:
    proc, got = run_berth(berth, model, inputs, work)
    assert proc.returncode == 0, (
        f"berth run failed (exit {proc.returncode}) on {model.name}\n"
        f"stderr:\n{proc.stderr}\nstdout:\n{proc.stdout}"
    )
    want = run_ort(model, inputs)
    missing = sorted(set(want) - set(got))
    assert not missing, f"berth did not write outputs {missing} (wrote {sorted(got)})"
    diffs = {}
    for name, ref in want.items():
        out = got[name]
        assert out.dtype == ref.dtype, f"{model.name}:{name}: dtype {out.dtype}, ORT {ref.dtype}"
        assert out.shape == ref.shape, f"{model.name}:{name}: shape {out.shape}, ORT {ref.shape}"
        if np.issubdtype(ref.dtype, np.floating):
            assert np.all(np.isfinite(out) == np.isfinite(ref)), f"{model.name}:{name}: non-finite mismatch"
            d = float(np.max(np.abs(out.astype(np.float64) - ref.astype(np.float64)))) if ref.size else 0.0
            diffs[name] = d
            assert d <= ATOL, f"{model.name}:{name}: max abs diff {d:.3e} > {ATOL:g}"
        else:
            bad = np.flatnonzero(out.ravel() != ref.ravel())
            diffs[name] = float(bad.size)
            assert bad.size == 0, (
                f"{model.name}:{name}: {bad.size} of {ref.size} elements differ, "
                f"first at flat index {bad[0]}: berth {out.ravel()[bad[0]]} vs ORT {ref.ravel()[bad[0]]}"
            )
    print(f"{model.name} " + " ".join(f"{k}: max|diff|={v:.3g}" for k, v in diffs.items()))
    return diffs


def make_inputs(kind: str, batch: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    if kind == "mlp":
        return {"x": rng.standard_normal((batch, 1000)).astype(np.float32)}
    if kind == "cnn":
        return {"x": rng.standard_normal((batch, 1, 28, 28)).astype(np.float32)}
    if kind == "transformer":
        return {"input_ids": rng.integers(0, mk.TRANSFORMER_VOCAB, (batch, mk.TRANSFORMER_SEQ), dtype=np.int64)}
    if kind == "digits":
        # digits pixels are integers in [0, 16]
        return {"input": rng.integers(0, 17, (batch, 64)).astype(np.float32)}
    raise ValueError(kind)


# ---------------------------------------------------------------------------
# numerical cross-checks


@pytest.mark.parametrize("batch", [1, 4])
@pytest.mark.parametrize("kind", ["mlp", "cnn", "transformer", "digits"])
def test_crosscheck(berth_bin, models, tmp_path, kind, batch):
    seed = 1000 * batch + ["mlp", "cnn", "transformer", "digits"].index(kind)
    assert_matches_ort(berth_bin, models[kind], make_inputs(kind, batch, seed), tmp_path)


def test_digits_sample(berth_bin, models, tmp_path):
    """The shipped-style sample (first 8 test rows) through the skl2onnx model."""
    sample = np.load(models["digits_sample"])
    assert sample.shape == (8, 64) and sample.dtype == np.float32
    assert_matches_ort(berth_bin, models["digits"], {"input": sample}, tmp_path)


# ---------------------------------------------------------------------------
# error handling


def _save(model: onnx.ModelProto, path: Path) -> Path:
    onnx.save_model(model, str(path))
    return path


def test_unsupported_custom_op_fails(berth_bin, tmp_path):
    op = "FrobnicateXYZ"
    node = helper.make_node(op, ["x"], ["y"], domain="com.example.berthtest", name="frob0")
    graph = helper.make_graph(
        [node], "unsupported",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.example.berthtest", 1)])
    model.ir_version = 8
    path = _save(model, tmp_path / "unsupported.onnx")
    proc, _ = run_berth(berth_bin, path, {"x": np.ones((2, 3), np.float32)}, tmp_path / "run")
    assert proc.returncode != 0, f"berth accepted a made-up op; stdout:\n{proc.stdout}"
    assert op in proc.stderr, f"stderr does not name the unsupported op {op!r}:\n{proc.stderr}"


def test_det_supported_or_named(berth_bin, tmp_path):
    """ai.onnx Det: if berth lacks a kernel it must fail naming `Det`; if it has one, it must match ORT."""
    node = helper.make_node("Det", ["m"], ["d"], name="det0")
    graph = helper.make_graph(
        [node], "det",
        [helper.make_tensor_value_info("m", TensorProto.FLOAT, [2, 3, 3])],
        [helper.make_tensor_value_info("d", TensorProto.FLOAT, [2])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = _save(model, tmp_path / "det.onnx")
    m = np.random.default_rng(7).standard_normal((2, 3, 3)).astype(np.float32)
    proc, _ = run_berth(berth_bin, path, {"m": m}, tmp_path / "probe")
    if proc.returncode != 0:
        assert "Det" in proc.stderr, f"stderr does not name the unsupported op 'Det':\n{proc.stderr}"
    else:
        assert_matches_ort(berth_bin, path, {"m": m}, tmp_path / "check")


INPUT_NAME = "features_in"


@pytest.fixture(scope="module")
def small_model(tmp_path_factory) -> Path:
    graph = helper.make_graph(
        [helper.make_node("Relu", [INPUT_NAME], ["features_out"], name="relu")],
        "small",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", 16])],
        [helper.make_tensor_value_info("features_out", TensorProto.FLOAT, ["N", 16])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return _save(model, tmp_path_factory.mktemp("small") / "small.onnx")


def test_small_model_ok(berth_bin, small_model, tmp_path):
    """Sanity: the model used for the bad-input tests runs fine with a good input."""
    x = np.random.default_rng(3).standard_normal((3, 16)).astype(np.float32)
    assert_matches_ort(berth_bin, small_model, {INPUT_NAME: x}, tmp_path)


@pytest.mark.parametrize(
    "case,arr",
    [
        ("float64", np.zeros((2, 16), np.float64)),
        ("int64", np.zeros((2, 16), np.int64)),
        ("wrong_dim", np.zeros((2, 17), np.float32)),
        ("wrong_rank", np.zeros((16,), np.float32)),
    ],
)
def test_bad_input_fails_naming_input(berth_bin, small_model, tmp_path, case, arr):
    proc, _ = run_berth(berth_bin, small_model, {INPUT_NAME: arr}, tmp_path)
    assert proc.returncode != 0, f"berth accepted a {case} input {arr.dtype}{list(arr.shape)}"
    assert INPUT_NAME in proc.stderr, f"stderr does not name input {INPUT_NAME!r} ({case}):\n{proc.stderr}"


def test_missing_input_fails_naming_input(berth_bin, small_model, tmp_path):
    proc, _ = run_berth(berth_bin, small_model, {}, tmp_path)
    assert proc.returncode != 0, "berth ran with a required input missing"
    assert INPUT_NAME in proc.stderr, f"stderr does not name missing input {INPUT_NAME!r}:\n{proc.stderr}"


def test_unknown_input_name_fails(berth_bin, small_model, tmp_path):
    x = np.zeros((2, 16), np.float32)
    proc, _ = run_berth(berth_bin, small_model, {INPUT_NAME: x, "no_such_input": x}, tmp_path)
    assert proc.returncode != 0, "berth accepted an input name the model does not have"
    assert "no_such_input" in proc.stderr, f"stderr does not name the unknown input:\n{proc.stderr}"
