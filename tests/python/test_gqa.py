"""Cross-check `berth run` against ONNX Runtime on com.microsoft GroupQueryAttention (the
attention with a KV cache that ORT GenAI's model builder writes).

Models are one GroupQueryAttention node built here with onnx.helper; inputs are random from a fixed
seed. Reference: onnxruntime (CPUExecutionProvider) on the same model and inputs. Tolerance: float
outputs must satisfy |berth - ort| <= RTOL * |ort| + ATOL with RTOL = ATOL = 1e-5 (the conventions'
fp32 figure; the absolute part covers outputs near zero, which are sums of products of ~1 terms).
Cases: prompt without past, prompt then 3 decode steps with present fed back as past, batch 2 with
different seqlens_k (right-padded prompt, then ragged decode), packed QKV, rotary (halves and
interleaved, full and partial rotary dim), local_window_size, softcap, smooth_softmax,
position_ids (rotary positions after the prompt) and attention_bias (broadcast over batch and
heads, with softcap); bad input must fail with a clear GroupQueryAttention error, not a crash.
Run: .venv/bin/python -m pytest tests/python/test_gqa.py -q
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

RTOL, ATOL = 1e-5, 1e-5
F, I32 = TensorProto.FLOAT, TensorProto.INT32
MAX_POS = 32
rng = np.random.default_rng(20261207)


def gqa_model(path: Path, *, heads=4, kv_heads=2, head=16, packed=False, past=True, rot_half=0,
              dtype=F, extras=(), **attrs) -> Path:
    """One GroupQueryAttention node; cos/sin caches [MAX_POS, rot_half] as initializers when rot_half > 0;
    `extras` adds the graph inputs position_ids and/or attention_bias."""
    names = ["query", "" if packed else "key", "" if packed else "value",
             "past_key" if past else "", "past_value" if past else "", "seqlens_k", "total_sequence_length"]
    inits = []
    if rot_half or extras:
        names += ["cos_cache", "sin_cache"] if rot_half else ["", ""]
    if extras:
        names += ["position_ids" if "position_ids" in extras else "", "attention_bias" if "attention_bias" in extras else ""]
    if rot_half:
        angles = np.arange(MAX_POS)[:, None] * (10000.0 ** (-np.arange(rot_half) / rot_half))[None, :]
        inits = [numpy_helper.from_array(np.cos(angles).astype(np.float32), "cos_cache"),
                 numpy_helper.from_array(np.sin(angles).astype(np.float32), "sin_cache")]
        attrs = {"do_rotary": 1, **attrs}
    node = helper.make_node("GroupQueryAttention", names, ["output", "present_key", "present_value"],
                            domain="com.microsoft", num_heads=heads, kv_num_heads=kv_heads, **attrs)
    # Symbolic widths: wrong widths must reach the kernel's own checks, not Berth's input-shape check.
    ins = [helper.make_tensor_value_info("query", dtype, ["B", "S", "Dq"])]
    if not packed:
        ins += [helper.make_tensor_value_info(n, dtype, ["B", "S", "Dkv"]) for n in ("key", "value")]
    if past:
        ins += [helper.make_tensor_value_info(n, dtype, ["B", "Nkv", "P", "H"]) for n in ("past_key", "past_value")]
    ins += [helper.make_tensor_value_info("seqlens_k", I32, ["B"]), helper.make_tensor_value_info("total_sequence_length", I32, [])]
    if "position_ids" in extras:
        ins.append(helper.make_tensor_value_info("position_ids", TensorProto.INT64, ["B", "S"]))
    if "attention_bias" in extras:
        ins.append(helper.make_tensor_value_info("attention_bias", dtype, ["Bb", "Nb", "S", "T"]))
    outs = [helper.make_tensor_value_info(n, dtype, None) for n in ("output", "present_key", "present_value")]
    graph = helper.make_graph([node], path.stem, ins, outs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
    model.ir_version = 8
    onnx.save_model(model, str(path))
    return path


def feeds(b, s, *, heads=4, kv_heads=2, head=16, packed=False, past=None, seqlens=None, total=None):
    """Random query/key/value for S new tokens; seqlens_k defaults to past + S - 1 for every row."""
    qw = (heads + 2 * kv_heads) * head if packed else heads * head
    f = {"query": rng.standard_normal((b, s, qw)).astype(np.float32)}
    if not packed:
        f["key"] = rng.standard_normal((b, s, kv_heads * head)).astype(np.float32)
        f["value"] = rng.standard_normal((b, s, kv_heads * head)).astype(np.float32)
    plen = 0
    if past is not None:
        f["past_key"], f["past_value"] = past
        plen = past[0].shape[2]
    if seqlens is None:
        seqlens = [plen + s - 1] * b
    f["seqlens_k"] = np.array(seqlens, np.int32)
    f["total_sequence_length"] = np.array(total if total is not None else max(seqlens) + 1, np.int32)
    return f


def run_both(berth_bin, model: Path, f: dict, work: Path, tag: str):
    proc, got = berthpy.berth_run(berth_bin, model, f, work / f"out_{tag}")
    assert proc.returncode == 0, f"berth run failed on {model.name} ({tag}):\n{proc.stderr}\n{proc.stdout}"
    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    want = dict(zip(["output", "present_key", "present_value"], sess.run(None, f)))
    return {k: got[berthpy.safe_output_name(k)] for k in want}, want


def close(name, out, want, rows=None):
    """Compares within RTOL/ATOL; `rows` [(batch, valid S)] limits output to a padded prompt's valid rows."""
    assert out.dtype == want.dtype and out.shape == want.shape, f"{name}: {out.dtype}{out.shape} vs ORT {want.dtype}{want.shape}"
    pairs = [(out, want)] if rows is None else [(out[bi, :n], want[bi, :n]) for bi, n in rows]
    for o, w in pairs:
        err = np.abs(o.astype(np.float64) - w.astype(np.float64))
        bound = RTOL * np.abs(w.astype(np.float64)) + ATOL
        assert np.all(err <= bound), f"{name}: max |diff| {err.max():.3g} (bound at worst {bound.ravel()[np.argmax(err - bound)]:.3g})"


def check(berth_bin, model, f, work, tag, rows=None):
    got, want = run_both(berth_bin, model, f, work, tag)
    for k in want:
        close(f"{model.name}:{tag}:{k}", got[k], want[k], rows if k == "output" else None)
    return got, want


VARIANTS = {
    "plain": {},
    "packed": {"packed": True},
    "rotary": {"rot_half": 8},
    "rotary_interleaved": {"rot_half": 8, "rotary_interleaved": 1},
    "rotary_partial": {"rot_half": 8, "head": 32},
    "packed_rotary": {"packed": True, "rot_half": 8},
    "local_window": {"local_window_size": 3},
    "softcap": {"softcap": 2.0, "scale": 0.5},
    "smooth_softmax": {"smooth_softmax": 1},
    "mqa": {"heads": 4, "kv_heads": 1},
}


def _shape_args(v):
    return {k: v[k] for k in ("heads", "kv_heads", "head", "packed") if k in v}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_prompt_then_decode(berth_bin, tmp_path, variant):
    """Prompt of 5 tokens (empty past), then 3 single-token steps with present fed back as past."""
    v = VARIANTS[variant]
    m = gqa_model(tmp_path / f"gqa_{variant}.onnx", **v)
    sa = _shape_args(v)
    kvh, hd = sa.get("kv_heads", 2), sa.get("head", 16)
    empty = np.zeros((1, kvh, 0, hd), np.float32)
    got, _ = check(berth_bin, m, feeds(1, 5, past=(empty, empty), **sa), tmp_path, "prompt")
    for step in range(3):
        # Berth's own present goes back in: a drift from ORT compounds and is caught at the next step.
        got, _ = check(berth_bin, m, feeds(1, 1, past=(got["present_key"], got["present_value"]), **sa), tmp_path, f"step{step}")


@pytest.mark.parametrize("variant", ["plain", "packed", "rotary"])
def test_prompt_without_past_inputs(berth_bin, tmp_path, variant):
    v = VARIANTS[variant]
    m = gqa_model(tmp_path / "gqa_nopast.onnx", past=False, **v)
    check(berth_bin, m, feeds(2, 6, **_shape_args(v)), tmp_path, "prompt")


@pytest.mark.parametrize("variant", ["plain", "rotary", "local_window"])
def test_batch_with_different_lengths(berth_bin, tmp_path, variant):
    """Batch 2, right-padded prompt (lengths 5 and 3 in S = 5), then 3 ragged decode steps; the
    padded prompt rows' outputs are unspecified in ORT and are not compared."""
    v = VARIANTS[variant]
    m = gqa_model(tmp_path / "gqa_batch.onnx", **v)
    empty = np.zeros((2, 2, 0, 16), np.float32)
    lengths = [5, 3]
    got, _ = check(berth_bin, m, feeds(2, 5, past=(empty, empty), seqlens=[n - 1 for n in lengths], total=5),
                   tmp_path, "prompt", rows=list(enumerate(lengths)))
    for step in range(3):
        lengths = [n + 1 for n in lengths]
        f = feeds(2, 1, past=(got["present_key"], got["present_value"]), seqlens=[n - 1 for n in lengths], total=max(lengths))
        got, _ = check(berth_bin, m, f, tmp_path, f"step{step}")


def test_multi_token_step_with_past(berth_bin, tmp_path):
    """Batch 1, a second chunk of 3 tokens after a 4-token prompt (ORT's subsequent-prompt case)."""
    m = gqa_model(tmp_path / "gqa_chunk.onnx", rot_half=8)
    empty = np.zeros((1, 2, 0, 16), np.float32)
    got, _ = check(berth_bin, m, feeds(1, 4, past=(empty, empty)), tmp_path, "prompt")
    check(berth_bin, m, feeds(1, 3, past=(got["present_key"], got["present_value"])), tmp_path, "chunk")


def test_position_ids_and_attention_bias(berth_bin, tmp_path):
    """Batch 2: a prompt with a per-head bias [1, N, S, T] (and position_ids, which ORT's CPU kernel
    ignores in the first prompt), then decode steps whose rotary positions come from position_ids
    (not past + i) with a per-row bias [B, 1, 1, T], softcap on: bias after softcap, as ORT."""
    m = gqa_model(tmp_path / "gqa_pos_bias.onnx", rot_half=8, softcap=3.0, extras=("position_ids", "attention_bias"))
    empty = np.zeros((2, 2, 0, 16), np.float32)
    f = feeds(2, 4, past=(empty, empty))
    f["position_ids"] = np.tile(np.arange(4, dtype=np.int64), (2, 1))
    f["attention_bias"] = rng.standard_normal((1, 4, 4, 4)).astype(np.float32)
    got, _ = check(berth_bin, m, f, tmp_path, "prompt")
    for step in range(2):
        total = 5 + step
        f = feeds(2, 1, past=(got["present_key"], got["present_value"]))
        f["position_ids"] = np.array([[7 + step], [20 + 3 * step]], np.int64)
        f["attention_bias"] = rng.standard_normal((2, 1, 1, total)).astype(np.float32)
        got, _ = check(berth_bin, m, f, tmp_path, f"step{step}")


def test_bad_position_ids_and_bias(berth_bin, tmp_path):
    m = gqa_model(tmp_path / "gqa_pos_bias.onnx", rot_half=8, extras=("position_ids", "attention_bias"))
    past = np.zeros((1, 2, 3, 16), np.float32)
    f = feeds(1, 1, past=(past, past))
    f["position_ids"] = np.array([[MAX_POS + 5]], np.int64)
    f["attention_bias"] = np.zeros((1, 1, 1, 4), np.float32)
    _fails(berth_bin, m, f, tmp_path, "pos_far", "cos_cache")
    f["position_ids"] = np.array([[4]], np.int64)
    f["attention_bias"] = np.zeros((1, 1, 1, 7), np.float32)
    _fails(berth_bin, m, f, tmp_path, "bias_shape", "attention_bias")


def _fails(berth_bin, model, f, work, tag, needle):
    proc, _ = berthpy.berth_run(berth_bin, model, f, work / f"bad_{tag}")
    text = proc.stderr + proc.stdout
    assert proc.returncode == 2, f"{tag}: expected exit 2 (bad input), got exit {proc.returncode}:\n{text}"
    assert "GroupQueryAttention" in text and needle in text, f"{tag}: unclear error:\n{text}"


def test_bad_input(berth_bin, tmp_path):
    m = gqa_model(tmp_path / "gqa.onnx")
    past = np.zeros((1, 2, 3, 16), np.float32)
    # seqlens_k beyond the cache, negative, and a total_sequence_length larger than past + S.
    _fails(berth_bin, m, feeds(1, 1, past=(past, past), seqlens=[9], total=4), tmp_path, "seqlens_big", "seqlens_k")
    _fails(berth_bin, m, feeds(1, 1, past=(past, past), seqlens=[-5], total=4), tmp_path, "seqlens_neg", "seqlens_k")
    _fails(berth_bin, m, feeds(1, 1, past=(past, past), seqlens=[3], total=1000000), tmp_path, "total_big", "total_sequence_length")
    # Key width not kv_num_heads × head size; past with the wrong head count.
    empty = np.zeros((1, 2, 0, 16), np.float32)
    f = feeds(1, 2, past=(empty, empty))
    f["key"] = f["key"][:, :, :8]
    _fails(berth_bin, m, f, tmp_path, "key_shape", "key")
    bad_past = np.zeros((1, 3, 3, 16), np.float32)
    _fails(berth_bin, m, feeds(1, 1, past=(bad_past, bad_past)), tmp_path, "past_shape", "past_key")
    # num_heads not a multiple of kv_num_heads.
    m3 = gqa_model(tmp_path / "gqa_3_2.onnx", heads=3, kv_heads=2)
    _fails(berth_bin, m3, feeds(1, 2, heads=3, kv_heads=2, past=(empty, empty)), tmp_path, "heads", "kv_num_heads")
    # float16 is refused.
    m16 = gqa_model(tmp_path / "gqa_f16.onnx", past=False, dtype=TensorProto.FLOAT16)
    f = {k: (a.astype(np.float16) if a.dtype == np.float32 else a) for k, a in feeds(1, 2).items()}
    _fails(berth_bin, m16, f, tmp_path, "f16", "float")
    # Rotary positions past the cos cache.
    mr = gqa_model(tmp_path / "gqa_rot.onnx", rot_half=8)
    long_past = np.zeros((1, 2, MAX_POS + 2, 16), np.float32)
    _fails(berth_bin, mr, feeds(1, 1, past=(long_past, long_past)), tmp_path, "rot_pos", "cos_cache")
