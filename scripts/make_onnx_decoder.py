#!/usr/bin/env python3
"""Writes a tiny random LLaMA-like ONNX decoder in the layout Optimum and ONNX Runtime GenAI
export, for BerthGenerate's ONNX decoder tests:

  OUT/model.onnx            input_ids, attention_mask, position_ids, past_key_values.N.key/value
                            → logits, present.N.key/value (2 layers, 4 query heads of 8 over 2
                            key/value heads (grouped-query attention), RMSNorm, rotate-half RoPE,
                            SwiGLU; random weights; opset 17, onnx.helper only)
  OUT/genai_config.json     ORT GenAI's description of it (sizes, names, special ids)
  OUT/tokenizer.json        a byte-level BPE trained by Hugging Face `tokenizers` on a small corpus
  OUT/tokenizer_config.json its ChatML chat template
  OUT/model_with_metadata.onnx  the model with the three JSON files in metadata_props (a
                            self-contained registry version)

Usage: make_onnx_decoder.py OUT_DIR [SEED]
"""
from __future__ import annotations

import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

HIDDEN, HEADS, KV_HEADS, HEAD, FFN, LAYERS, CONTEXT, VOCAB = 32, 4, 2, 8, 64, 2, 128, 320
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CORPUS = ("The quick brown fox jumps over the lazy dog. Hello world! Serving language models with Berth: "
          "tokens, prompts, answers and streams. 0123456789 The capital of France is Paris. ") * 20
CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
          "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")


def tokenizer() -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB, special_tokens=SPECIAL, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator([CORPUS], trainer=trainer)
    return tok


class GraphBuilder:
    """Initializers and nodes of a random-weight graph, node outputs named in creation order (shared with
    make_onnx_gqa_decoder.py)."""

    def __init__(self, seed: int, hidden: int):
        self.rng = np.random.default_rng(seed)
        self.hidden = hidden
        self.inits: list = []
        self.nodes: list = []
        self.counter = 0
        self.eps = None

    def arr(self, name, a):
        self.inits.append(numpy_helper.from_array(np.asarray(a), name))
        return name

    def w(self, name, *shape, scale):
        return self.arr(name, (self.rng.standard_normal(shape) * scale).astype(np.float32))

    def node(self, op, ins, outs=None, n_out=1, domain=None, **attrs):
        """Adds a node; `outs` is a name or a list of names, else `n_out` fresh ones. Returns the output name(s)."""
        self.counter += 1
        if outs is None:
            outs = [f"{op.lower()}_{self.counter}"] if n_out == 1 else [f"{op.lower()}_{self.counter}_{i}" for i in range(n_out)]
        elif isinstance(outs, str):
            outs = [outs]
        self.nodes.append(helper.make_node(op, ins, outs, name=f"n{self.counter}_{op}", domain=domain, **attrs))
        return outs[0] if n_out == 1 else outs

    def rms_norm(self, x, name):
        if self.eps is None:
            self.eps = self.arr("eps", np.array(1e-5, np.float32))
        g = self.arr(name, (1 + 0.1 * self.rng.standard_normal(self.hidden)).astype(np.float32))
        ms = self.node("ReduceMean", [self.node("Mul", [x, x])], axes=[-1], keepdims=1)
        return self.node("Mul", [self.node("Div", [x, self.node("Sqrt", [self.node("Add", [ms, self.eps])])]), g])

    def swiglu_block(self, x, layer: int, ffn: int):
        """x + down(silu(gate(norm(x))) * up(norm(x))): the LLaMA feed-forward half of a layer."""
        node, w = self.node, self.w
        h2 = self.rms_norm(x, f"l{layer}_ffn_norm")
        gate = node("MatMul", [h2, w(f"l{layer}_gate", self.hidden, ffn, scale=0.3)])
        up = node("MatMul", [h2, w(f"l{layer}_up", self.hidden, ffn, scale=0.3)])
        act = node("Mul", [node("Mul", [gate, node("Sigmoid", [gate])]), up])
        return node("Add", [x, node("MatMul", [act, w(f"l{layer}_down", ffn, self.hidden, scale=0.2)])])


def write_companions(out: str, tok: Tokenizer, decoder: dict) -> dict:
    """Writes tokenizer.json, genai_config.json (with `decoder`'s sizes and names) and tokenizer_config.json;
    returns the config."""
    tok.save(os.path.join(out, "tokenizer.json"))
    config = {"model": {
        "type": "llama", "context_length": CONTEXT, "vocab_size": tok.get_vocab_size(),
        "bos_token_id": tok.token_to_id("<|endoftext|>"), "eos_token_id": [tok.token_to_id("<|im_end|>")],
        "pad_token_id": tok.token_to_id("<|endoftext|>"), "decoder": decoder}}
    with open(os.path.join(out, "genai_config.json"), "w") as f:
        json.dump(config, f, indent=2)
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump({"chat_template": CHATML, "eos_token": "<|im_end|>"}, f, indent=2)
    return config


def model(vocab: int, seed: int) -> onnx.ModelProto:
    g = GraphBuilder(seed, HIDDEN)
    arr, w, node, rms_norm = g.arr, g.w, g.node, g.rms_norm

    g.eps = arr("eps", np.array(1e-5, np.float32))
    half = HEAD // 2
    inv = 1.0 / (10000 ** (np.arange(half) / half))
    angles = np.arange(CONTEXT)[:, None] * inv[None, :]
    cos_table = arr("rope_cos", np.cos(angles).astype(np.float32))
    sin_table = arr("rope_sin", np.sin(angles).astype(np.float32))
    axis1 = arr("axis1", np.array([1], np.int64))
    cos = node("Unsqueeze", [node("Gather", [cos_table, "position_ids"]), axis1])  # [B, 1, S, half]
    sin = node("Unsqueeze", [node("Gather", [sin_table, "position_ids"]), axis1])

    def rope(t):
        a, b = node("Split", [t], n_out=2, axis=-1)
        return node("Concat", [node("Sub", [node("Mul", [a, cos]), node("Mul", [b, sin])]),
                               node("Add", [node("Mul", [b, cos]), node("Mul", [a, sin])])], axis=-1)

    # Causal + padding mask [B, 1, S, T] as an additive bias.
    one = arr("one", np.array(1, np.int64))
    zero = arr("zero", np.array(0, np.int64))
    two = arr("two", np.array(2, np.int64))
    past_len = node("Gather", [node("Shape", ["past_key_values.0.key"]), two])
    seq_len = node("Gather", [node("Shape", ["input_ids"]), one])
    total = node("Add", [past_len, seq_len])
    q_pos = node("Unsqueeze", [node("Range", [past_len, total, one]), axis1])  # [S, 1]
    k_pos = node("Unsqueeze", [node("Range", [zero, total, one]), arr("axis0", np.array([0], np.int64))])  # [1, T]
    causal = node("LessOrEqual", [k_pos, q_pos])  # [S, T]
    pad = node("Unsqueeze", [node("Cast", ["attention_mask"], to=TensorProto.BOOL), arr("axes12", np.array([1, 2], np.int64))])
    allowed = node("And", [causal, pad])
    bias = node("Where", [allowed, arr("zero_f", np.array(0, np.float32)), arr("neg", np.array(-1e9, np.float32))])
    heads_shape = arr("heads_shape", np.array([0, 0, HEADS, HEAD], np.int64))
    kv_shape = arr("kv_shape", np.array([0, 0, KV_HEADS, HEAD], np.int64))
    repeat = arr("repeat", np.array([1, 1, HEADS // KV_HEADS, 1, 1], np.int64))
    grouped = arr("grouped", np.array([0, HEADS, -1, HEAD], np.int64))

    def expand_kv(t):
        """[B, KV, T, D] → [B, H, T, D]: each key/value head serves HEADS / KV_HEADS query heads."""
        t5 = node("Unsqueeze", [t, arr(f"axis2_{g.counter}", np.array([2], np.int64))])
        return node("Reshape", [node("Expand", [t5, node("Mul", [node("Shape", [t5]), repeat])]), grouped])
    merge_shape = arr("merge_shape", np.array([0, 0, HIDDEN], np.int64))
    scale = arr("scale", np.array(1 / np.sqrt(HEAD), np.float32))

    x = node("Gather", [w("embed", vocab, HIDDEN, scale=1.0), "input_ids"])
    for i in range(LAYERS):
        h = rms_norm(x, f"l{i}_attn_norm")

        def heads(name, n, shape):
            return node("Transpose", [node("Reshape", [node("MatMul", [h, w(f"l{i}_{name}", HIDDEN, n * HEAD, scale=0.3)]), shape])],
                        perm=[0, 2, 1, 3])
        q, k, v = rope(heads("q", HEADS, heads_shape)), rope(heads("k", KV_HEADS, kv_shape)), heads("v", KV_HEADS, kv_shape)
        key = node("Concat", [f"past_key_values.{i}.key", k], f"present.{i}.key", axis=2)
        value = node("Concat", [f"past_key_values.{i}.value", v], f"present.{i}.value", axis=2)
        scores = node("Add", [node("Mul", [node("MatMul", [q, node("Transpose", [expand_kv(key)], perm=[0, 1, 3, 2])]), scale]), bias])
        ctx = node("MatMul", [node("Softmax", [scores], axis=-1), expand_kv(value)])
        merged = node("Reshape", [node("Transpose", [ctx], perm=[0, 2, 1, 3]), merge_shape])
        x = node("Add", [x, node("MatMul", [merged, w(f"l{i}_o", HEADS * HEAD, HIDDEN, scale=0.2)])])
        x = g.swiglu_block(x, i, FFN)
    node("MatMul", [rms_norm(x, "final_norm"), w("lm_head", HIDDEN, vocab, scale=0.5)], "logits")

    ins = [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", d])
           for n, d in (("input_ids", "sequence"), ("attention_mask", "total"), ("position_ids", "sequence"))]
    outs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", "sequence", vocab])]
    for i in range(LAYERS):
        for kind in ("key", "value"):
            ins.append(helper.make_tensor_value_info(f"past_key_values.{i}.{kind}", TensorProto.FLOAT, ["batch", KV_HEADS, "past", HEAD]))
            outs.append(helper.make_tensor_value_info(f"present.{i}.{kind}", TensorProto.FLOAT, ["batch", KV_HEADS, "total", HEAD]))
    graph = helper.make_graph(g.nodes, "tiny_llama_decoder", ins, outs, initializer=g.inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="make_onnx_decoder")
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


def main() -> None:
    out = sys.argv[1]
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    os.makedirs(out, exist_ok=True)
    tok = tokenizer()
    vocab = tok.get_vocab_size()
    m = model(vocab, seed)
    onnx.save(m, os.path.join(out, "model.onnx"))
    config = write_companions(out, tok, {
        "filename": "model.onnx", "hidden_size": HIDDEN, "num_attention_heads": HEADS, "num_key_value_heads": KV_HEADS,
        "head_size": HEAD, "num_hidden_layers": LAYERS,
        "inputs": {"input_ids": "input_ids", "attention_mask": "attention_mask", "position_ids": "position_ids",
                   "past_key_names": "past_key_values.%d.key", "past_value_names": "past_key_values.%d.value"},
        "outputs": {"logits": "logits", "present_key_names": "present.%d.key", "present_value_names": "present.%d.value"},
    })
    # One self-contained file for the registry: the companions in metadata_props under their file names.
    helper.set_model_props(m, {"tokenizer.json": tok.to_str(), "genai_config.json": json.dumps(config),
                               "tokenizer_config.json": json.dumps({"chat_template": CHATML})})
    onnx.save(m, os.path.join(out, "model_with_metadata.onnx"))


if __name__ == "__main__":
    main()
