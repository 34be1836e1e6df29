"""The transformer fusions (issue 11): AttentionFusion (Reshape/Transpose/MatMul/Softmax/MatMul/
Transpose/Reshape → one HeadsAttention) and MatMulActivationFusion (MatMul + bias + exact GELU →
one product with a GELU post-op), checked against ONNX Runtime with its graph optimizations off
(the unfused graph's semantics) on attention blocks in the layouts exporters write, on ViT-Tiny
(bench/cnn_models.py) and on the int8 BERT-mini-sized transformer.

Tolerance: max |berth - ORT| <= 1e-4 + 1e-4·|ORT| (fp32; the fused kernels sum in a different
order, and oneDNN's GELU uses its own erf, within 2e-7·|x| of the exact one). Each model is also
profiled (`berth perf --profile --json`) to prove the fusion fired, or — where a precondition
fails — did not.

Run:   BERTH_BIN=.build/debug/berth .venv/bin/python -m pytest tests/python/test_attention_fusion.py -q
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import berthpy  # noqa: E402

from conftest import berth_path  # noqa: E402

ATOL = 1e-4
RTOL = 1e-4


def attention_model(path: Path, *, k_two_transposes=False, scale="mul", cross=False, axis=-1,
                    scores_output=False, gelu_ffn=True, seq=5, mem=7, heads=2, hd=4, seed=0, mask=None,
                    kv_heads=None) -> Path:
    """mask: None, "first" (Add(mask, scores)) or "second" (Add(scores, mask)); the mask is BERT's
    (1 - m) · -10000 over an input m [N, 1, 1, L]. kv_heads=1: one key/value head that the
    MatMuls broadcast over the query heads (multi-query attention)."""
    """One attention block plus an FFN, with Q/K/V as MatMul + Add (bias) projections."""
    rng = np.random.default_rng(seed)
    dim = heads * hd
    kv_heads = kv_heads or heads
    inits, nodes = [], []

    def init(name, arr):
        inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def node(op, ins, out, **attrs):
        nodes.append(helper.make_node(op, ins, [out], name=out, **attrs))
        return out

    def linear(x, name, cin, cout):
        w = init(name + ".w", (rng.standard_normal((cin, cout)) / np.sqrt(cin)).astype(np.float32))
        b = init(name + ".b", (0.1 * rng.standard_normal(cout)).astype(np.float32))
        return node("Add", [node("MatMul", [x, w], name + ".mm"), b], name)

    kv_src, kv_len = ("m", mem) if cross else ("x", seq)
    init("q_shape", np.array([0, seq, heads, hd], np.int64))
    init("kv_shape", np.array([0, -1, kv_heads, hd], np.int64))
    init("merge", np.array([-1, seq, dim], np.int64))
    q = node("Transpose", [node("Reshape", [linear("x", "q", dim, dim), "q_shape"], "q4")], "qh", perm=[0, 2, 1, 3])
    k4 = node("Reshape", [linear(kv_src, "k", dim, kv_heads * hd), "kv_shape"], "k4")
    if k_two_transposes:
        k = node("Transpose", [node("Transpose", [k4], "kh0", perm=[0, 2, 1, 3])], "kh", perm=[0, 1, 3, 2])
    else:
        k = node("Transpose", [k4], "kh", perm=[0, 2, 3, 1])
    v = node("Transpose", [node("Reshape", [linear(kv_src, "v", dim, kv_heads * hd), "kv_shape"], "v4")], "vh", perm=[0, 2, 1, 3])
    s = node("MatMul", [q, k], "scores")
    if scale == "mul":
        s = node("Mul", [s, init("scale", np.array(1 / np.sqrt(hd), np.float32))], "scaled")
    elif scale == "div":
        s = node("Div", [s, init("sqrt_d", np.array(np.sqrt(hd), np.float32))], "scaled")
    if mask:
        ext = node("Mul", [node("Sub", [init("mask_one", np.array(1, np.float32)), "m_in"], "mask_inv"),
                           init("mask_big", np.array(-10000, np.float32))], "mask_ext")
        s = node("Add", [ext, s] if mask == "first" else [s, ext], "masked")
    p = node("Softmax", [s], "probs", axis=axis)
    ctx = node("Reshape", [node("Transpose", [node("MatMul", [p, v], "ctx")], "ctx_t", perm=[0, 2, 1, 3]), "merge"], "ctx3")
    y = node("Add", ["x", linear(ctx, "o", dim, dim)], "res")
    if gelu_ffn:
        h = linear(y, "ffn1", dim, 4 * dim)
        init("sqrt2", np.array(np.sqrt(2), np.float32))
        init("one", np.array(1, np.float32))
        init("half", np.array(0.5, np.float32))
        g = node("Mul", [node("Mul", [h, node("Add", [node("Erf", [node("Div", [h, "sqrt2"], "g_div")], "g_erf"), "one"], "g_add")], "g_mul"),
                 "half"], "gelu")
        y = node("Add", [y, linear(g, "ffn2", 4 * dim, dim)], "out0")
    node("Identity", [y], "y")
    ins = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", seq, dim])]
    if cross:
        ins.append(helper.make_tensor_value_info("m", TensorProto.FLOAT, ["M", kv_len, dim]))
    if mask:
        ins.append(helper.make_tensor_value_info("m_in", TensorProto.FLOAT, ["N", 1, 1, kv_len]))
    outs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", seq, dim])]
    if scores_output:
        outs.append(helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", heads, seq, kv_len]))
    graph = helper.make_graph(nodes, "attention", ins, outs, initializer=inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, str(path))
    return path


def ort_reference(model: Path, feeds: dict) -> dict:
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    s = ort.InferenceSession(str(model), opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in s.get_outputs()]
    return dict(zip(names, s.run(names, feeds)))


def assert_close_to_ort(model: Path, feeds: dict, tmp_path: Path) -> None:
    proc, got = berthpy.berth_run(berth_path(), model, feeds, tmp_path / "out", timeout=600)
    assert proc.returncode == 0, proc.stderr
    for name, ref in ort_reference(model, feeds).items():
        out = got[name]
        assert out.shape == ref.shape and out.dtype == ref.dtype, name
        err = np.abs(out.astype(np.float64) - ref)
        bound = ATOL + RTOL * np.abs(ref)
        assert np.all(err <= bound), f"{model.name}:{name}: max |diff| {err.max():.3e}, worst excess {(err - bound).max():.3e}"


def profiled_ops(model: Path, batch: int = 2) -> set[str]:
    p = subprocess.run([str(berth_path()), "perf", str(model), "--profile", "--json", "--batch", str(batch),
                        "--iterations", "1", "--warmup", "0"], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    return {r["op"] for r in json.loads(p.stdout)["profile"]["operators"]}


VARIANTS = {
    "vit_layout": {},
    "two_transposes_div": {"k_two_transposes": True, "scale": "div"},
    "cross_no_scale_axis3": {"cross": True, "scale": None, "axis": 3},
    "heads_1_long": {"heads": 1, "hd": 16, "seq": 33, "scale": "mul"},
    "mask_first": {"mask": "first"},
    "mask_second_cross_div": {"mask": "second", "cross": True, "scale": "div"},
    # The MatMuls broadcast a single key/value head, and a memory of batch 1, as the fused kernel must.
    "multi_query": {"kv_heads": 1, "heads": 4},
    "cross_memory_batch_1": {"cross": True, "memory_batch": 1},
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("batch", [1, 3])
def test_fused_attention_matches_ort(tmp_path, variant, batch):
    cfg = VARIANTS[variant]
    model = attention_model(tmp_path / f"{variant}.onnx", **{k: v for k, v in cfg.items() if k != "memory_batch"})
    seq, dim = cfg.get("seq", 5), cfg.get("heads", 2) * cfg.get("hd", 4)
    rng = np.random.default_rng(batch)
    feeds = {"x": rng.standard_normal((batch, seq, dim)).astype(np.float32)}
    if cfg.get("cross"):
        feeds["m"] = rng.standard_normal((cfg.get("memory_batch", batch), 7, dim)).astype(np.float32)
    if cfg.get("mask"):
        kv_len = 7 if cfg.get("cross") else seq
        feeds["m_in"] = (rng.random((batch, 1, 1, kv_len)) < 0.7).astype(np.float32)
    assert_close_to_ort(model, feeds, tmp_path)
    ops = profiled_ops(model)
    assert "HeadsAttention" in ops and not ops & {"Softmax", "Transpose", "MatMul", "Erf", "Gelu"}, ops


def test_attention_with_probs_as_output_is_not_fused(tmp_path):
    """A graph output in the middle of the block: the unfused nodes run, with equal results."""
    model = attention_model(tmp_path / "probs_out.onnx", scores_output=True, gelu_ffn=False)
    feeds = {"x": np.random.default_rng(5).standard_normal((2, 5, 8)).astype(np.float32)}
    assert_close_to_ort(model, feeds, tmp_path)
    ops = profiled_ops(model)
    assert "HeadsAttention" not in ops and "Softmax" in ops, ops


def test_vit_tiny_matches_ort(tmp_path):
    import cnn_models  # bench/cnn_models.py
    model = tmp_path / "vit.onnx"
    onnx.save(cnn_models.make_vit_tiny(depth=2), str(model))
    feeds = {"x": np.random.default_rng(7).standard_normal((2, 3, 224, 224)).astype(np.float32)}
    assert_close_to_ort(model, feeds, tmp_path)
    ops = profiled_ops(model, batch=1)
    assert "HeadsAttention" in ops and not ops & {"Softmax", "Erf", "Gelu"}, ops


def test_int8_transformer_fuses_attention_and_gelu(tmp_path):
    """`berth quantize --mode dynamic` on the transformer: the int8 FFN absorbs the GELU and the
    fp32 attention is fused; ORT on the same file is the reference. The integer sums are exact in
    both, but a float difference of one rounding upstream can move a re-quantized activation by one
    step in the next layer, so the bound is test_quantize.py's: 1e-2 of the output's span."""
    mk = berthpy.load_script("make_examples")
    fp32 = tmp_path / "t.onnx"
    onnx.save(mk.make_transformer_model(layers=2), str(fp32))
    int8 = tmp_path / "t8.onnx"
    q = subprocess.run([str(berth_path()), "quantize", str(fp32), str(int8), "--mode", "dynamic"],
                       capture_output=True, text=True, timeout=600)
    assert q.returncode == 0, q.stderr
    ops = profiled_ops(int8)
    assert "HeadsAttention" in ops and not ops & {"Softmax", "Erf", "Gelu"}, ops
    feeds = {"input_ids": np.random.default_rng(3).integers(0, mk.TRANSFORMER_VOCAB, (2, mk.TRANSFORMER_SEQ), dtype=np.int64)}
    proc, got = berthpy.berth_run(berth_path(), int8, feeds, tmp_path / "out", timeout=600)
    assert proc.returncode == 0, proc.stderr
    ref = ort_reference(int8, feeds)["last_hidden_state"]
    span = float(np.abs(ref).max())
    np.testing.assert_allclose(got["last_hidden_state"], ref, atol=1e-2 * span)
