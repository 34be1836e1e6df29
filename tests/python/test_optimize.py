"""`berth optimize`: graph rewrites written as standard ONNX (issue 15). Every output file passes
onnx.checker and gives ONNX Runtime the same outputs as the original (1e-5), and Berth's outputs on
it equal ONNX Runtime's; the rewrites themselves are checked by the ops left in the file."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import berthpy
from conftest import berth_path
from test_prune import EXAMPLES, cnn, run_ort

TOL = 1e-5


def optimize(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(berth_path()), "optimize", *args], capture_output=True, text=True, timeout=300)


def check_same(src: Path, out: Path, feeds: dict, tmp_path: Path, berth_output: str) -> onnx.ModelProto:
    m = onnx.load(str(out))
    onnx.checker.check_model(m, full_check=True)
    want, got = run_ort(src, feeds), run_ort(out, feeds)
    for a, b in zip(got, want):
        if a.dtype.kind == "f":
            np.testing.assert_allclose(a, b, rtol=TOL, atol=TOL)
        else:
            np.testing.assert_array_equal(a, b)
    proc, berth = berthpy.berth_run(berth_path(), out, feeds, tmp_path / "run")
    assert proc.returncode == 0, proc.stderr
    names = [o.name for o in m.graph.output]
    np.testing.assert_allclose(berth[berth_output], got[names.index(berth_output)], rtol=TOL, atol=TOL)
    return m


def ops(m: onnx.ModelProto) -> list[str]:
    return [n.op_type for n in m.graph.node]


def test_matmul_add_becomes_gemm(tmp_path):
    src, out = EXAMPLES / "digits_mlp.onnx", tmp_path / "o.onnx"
    r = optimize(str(src), str(out), "--level", "all", "--iterations", "2", "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert {p["pass"]: p["rewrites"] for p in report["passes"]}["MatMul + Add → Gemm"] == 2
    x = np.load(EXAMPLES / "digits_sample.npy").astype(np.float32)
    m = check_same(src, out, {"input": x}, tmp_path, "probabilities")
    assert ops(m).count("Gemm") == 2 and "MatMul" not in ops(m) and report["nodes_after"] == report["nodes_before"] - 2


def test_batch_normalization_folds_into_conv(tmp_path):
    src, out = tmp_path / "cnn.onnx", tmp_path / "o.onnx"
    cnn(src)
    r = optimize(str(src), str(out), "--level", "all", "--iterations", "0")
    assert r.returncode == 0, r.stderr
    x = np.random.default_rng(2).normal(size=(2, 3, 8, 8)).astype(np.float32)
    m = check_same(src, out, {"x": x}, tmp_path, "y")
    assert "BatchNormalization" not in ops(m) and ops(m).count("Conv") == 2
    # --level basic leaves it.
    r = optimize(str(src), str(tmp_path / "b.onnx"), "--level", "basic", "--iterations", "0")
    assert r.returncode == 0 and "BatchNormalization" in ops(onnx.load(str(tmp_path / "b.onnx")))


def test_basic_removes_identity_dropout_dead_nodes_and_folds_constants(tmp_path):
    """Constant(c1), Constant(c2) → Concat → Mul(k) is folded into one initializer; Identity and
    Dropout vanish, also where an If branch reads the Identity's output; the dead Relu goes."""
    one = numpy_helper.from_array(np.array([1.0], np.float32), "one")
    then_g = helper.make_graph([helper.make_node("Add", ["xi", "one_t"], ["t_out"])], "then", [],
                               [helper.make_tensor_value_info("t_out", TensorProto.FLOAT, None)],
                               [numpy_helper.from_array(np.array([1.0], np.float32), "one_t")])
    else_g = helper.make_graph([helper.make_node("Sub", ["xi", "one_e"], ["e_out"])], "else", [],
                               [helper.make_tensor_value_info("e_out", TensorProto.FLOAT, None)],
                               [numpy_helper.from_array(np.array([1.0], np.float32), "one_e")])
    nodes = [
        helper.make_node("Constant", [], ["c1"], value=numpy_helper.from_array(np.array([1.0, 2.0], np.float32))),
        helper.make_node("Constant", [], ["c2"], value=numpy_helper.from_array(np.array([3.0, 4.0], np.float32))),
        helper.make_node("Concat", ["c1", "c2"], ["c"], axis=0),
        helper.make_node("Mul", ["c", "k"], ["ck"]),
        helper.make_node("Identity", ["x"], ["xi"]),
        helper.make_node("Dropout", ["xi"], ["xd"]),
        helper.make_node("Add", ["xd", "ck"], ["y"]),
        helper.make_node("Relu", ["x"], ["dead"]),
        helper.make_node("If", ["cond"], ["z"], then_branch=then_g, else_branch=else_g),
    ]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4]),
                                       helper.make_tensor_value_info("cond", TensorProto.BOOL, [])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4]),
                           helper.make_tensor_value_info("z", TensorProto.FLOAT, [4])],
                          [numpy_helper.from_array(np.array([2.0], np.float32), "k"), one])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    src, out = tmp_path / "g.onnx", tmp_path / "o.onnx"
    onnx.save(m, str(src))
    r = optimize(str(src), str(out), "--iterations", "0", "--json")
    assert r.returncode == 0, r.stderr
    x = np.array([0.5, -1.0, 2.0, 3.0], np.float32)
    for cond in (True, False):
        o = check_same(src, out, {"x": x, "cond": np.array(cond)}, tmp_path / str(cond), "y")
    assert sorted(ops(o)) == ["Add", "If"], ops(o)
    assert {t.name for t in o.graph.initializer} == {"ck"}


def test_bad_input_exits_2(tmp_path):
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    r = optimize(str(tmp_path / "junk.onnx"), str(tmp_path / "o.onnx"))
    assert r.returncode == 2 and not (tmp_path / "o.onnx").exists()
    r = optimize(str(EXAMPLES / "digits_mlp.onnx"), str(tmp_path / "o.onnx"), "--level", "extreme")
    assert r.returncode == 2 and "--level" in r.stderr


def test_every_zoo_model_keeps_its_outputs(tmp_path):
    """`--level all` on every classic-ML zoo model (scripts/make_zoo.py): ONNX Runtime gives the
    optimized file the original's outputs — labels exactly, numbers within 1e-5."""
    import onnxruntime as ort

    zoo = berthpy.load_script("make_zoo")
    d = tmp_path / "zoo"
    manifest = zoo.build_zoo(d, verbose=False)
    assert manifest["models"]
    rewritten = 0
    for entry in manifest["models"]:
        src, out = d / entry["file"], tmp_path / f"{entry['name']}.opt.onnx"
        r = optimize(str(src), str(out), "--level", "all", "--iterations", "0", "--json")
        assert r.returncode == 0, (entry["name"], r.stderr)
        rewritten += sum(p["rewrites"] for p in json.loads(r.stdout)["passes"])
        onnx.checker.check_model(onnx.load(str(out)))
        feeds = {i["name"]: np.load(d / i["file"], allow_pickle=True) for i in entry["inputs"]}
        want = ort.InferenceSession(str(src), providers=["CPUExecutionProvider"]).run(None, feeds)
        got = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(None, feeds)
        for a, b in zip(got, want):
            if isinstance(b, list):  # ZipMap: a list of dicts
                assert a == b or all(np.allclose(list(x.values()), list(y.values()), atol=TOL) for x, y in zip(a, b)), entry["name"]
            elif b.dtype.kind == "f":
                np.testing.assert_allclose(a, b, rtol=TOL, atol=TOL, err_msg=entry["name"])
            else:
                np.testing.assert_array_equal(a, b, err_msg=entry["name"])
    assert rewritten > 0  # the zoo's Identity / Cast chains and MLPs give the passes work
