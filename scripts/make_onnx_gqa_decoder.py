#!/usr/bin/env python3
"""Writes a tiny random LLaMA-like ONNX decoder whose attention is ORT's com.microsoft
GroupQueryAttention, as ONNX Runtime GenAI's model builder writes it, for Berth's GQA decoder test:

  OUT/model.onnx            input_ids, attention_mask, past_key_values.N.key/value → logits,
                            present.N.key/value (2 layers, 4 query heads of 16 over 2 key/value
                            heads, RMSNorm, SwiGLU; seqlens_k = ReduceSum(attention_mask) − 1 and
                            total_sequence_length = attention_mask's width, both int32, as the model
                            builder computes them; rotary inside GroupQueryAttention (do_rotary,
                            cos/sin caches); no position_ids input; random weights)
  OUT/genai_config.json, OUT/tokenizer.json, OUT/tokenizer_config.json   as make_onnx_decoder.py

Usage: make_onnx_gqa_decoder.py OUT_DIR [SEED]
"""
from __future__ import annotations

import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper

from make_onnx_decoder import CONTEXT, GraphBuilder, tokenizer, write_companions

# Head size 16: ORT's CPU GroupQueryAttention wants a multiple of 16 for rotary.
HIDDEN, HEADS, KV_HEADS, HEAD, FFN, LAYERS = 64, 4, 2, 16, 128, 2


def model(vocab: int, seed: int) -> onnx.ModelProto:
    g = GraphBuilder(seed, HIDDEN)
    arr, w, node, rms_norm = g.arr, g.w, g.node, g.rms_norm
    g.eps = arr("eps", np.array(1e-5, np.float32))

    half = HEAD // 2
    angles = np.arange(CONTEXT)[:, None] * (1.0 / (10000 ** (np.arange(half) / half)))[None, :]
    cos = arr("cos_cache", np.cos(angles).astype(np.float32))
    sin = arr("sin_cache", np.sin(angles).astype(np.float32))
    # The model builder's attention-mask subgraph: seqlens_k [B] and total_sequence_length (scalar), int32.
    ones = node("ReduceSum", ["attention_mask", arr("axis_1", np.array([1], np.int64))], keepdims=0)
    seqlens_k = node("Cast", [node("Sub", [ones, arr("one", np.array(1, np.int64))])], to=TensorProto.INT32)
    total = node("Cast", [node("Gather", [node("Shape", ["attention_mask"]), arr("idx1", np.array(1, np.int64))])], to=TensorProto.INT32)

    x = node("Gather", [w("embed", vocab, HIDDEN, scale=1.0), "input_ids"])
    for i in range(LAYERS):
        h = rms_norm(x, f"l{i}_attn_norm")
        q = node("MatMul", [h, w(f"l{i}_q", HIDDEN, HEADS * HEAD, scale=0.3)])
        k = node("MatMul", [h, w(f"l{i}_k", HIDDEN, KV_HEADS * HEAD, scale=0.3)])
        v = node("MatMul", [h, w(f"l{i}_v", HIDDEN, KV_HEADS * HEAD, scale=0.3)])
        attn = node("GroupQueryAttention",
                    [q, k, v, f"past_key_values.{i}.key", f"past_key_values.{i}.value", seqlens_k, total, cos, sin],
                    [f"l{i}_attn", f"present.{i}.key", f"present.{i}.value"], domain="com.microsoft",
                    num_heads=HEADS, kv_num_heads=KV_HEADS, do_rotary=1)
        x = node("Add", [x, node("MatMul", [attn, w(f"l{i}_o", HEADS * HEAD, HIDDEN, scale=0.2)])])
        x = g.swiglu_block(x, i, FFN)
    node("MatMul", [rms_norm(x, "final_norm"), w("lm_head", HIDDEN, vocab, scale=0.5)], ["logits"])

    ins = [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", d]) for n, d in (("input_ids", "sequence"), ("attention_mask", "total"))]
    outs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", "sequence", vocab])]
    for i in range(LAYERS):
        for kind in ("key", "value"):
            ins.append(helper.make_tensor_value_info(f"past_key_values.{i}.{kind}", TensorProto.FLOAT, ["batch", KV_HEADS, "past", HEAD]))
            outs.append(helper.make_tensor_value_info(f"present.{i}.{kind}", TensorProto.FLOAT, ["batch", KV_HEADS, "total", HEAD]))
    graph = helper.make_graph(g.nodes, "tiny_gqa_decoder", ins, outs, initializer=g.inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)],
                          producer_name="make_onnx_gqa_decoder")
    m.ir_version = 8
    return m


def main() -> None:
    out = sys.argv[1]
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    os.makedirs(out, exist_ok=True)
    tok = tokenizer()
    onnx.save(model(tok.get_vocab_size(), seed), os.path.join(out, "model.onnx"))
    write_companions(out, tok, {
        "filename": "model.onnx", "hidden_size": HIDDEN, "num_attention_heads": HEADS, "num_key_value_heads": KV_HEADS,
        "head_size": HEAD, "num_hidden_layers": LAYERS,
        "inputs": {"input_ids": "input_ids", "attention_mask": "attention_mask",
                   "past_key_names": "past_key_values.%d.key", "past_value_names": "past_key_values.%d.value"},
        "outputs": {"logits": "logits", "present_key_names": "present.%d.key", "present_value_names": "present.%d.value"},
    })

if __name__ == "__main__":
    main()
