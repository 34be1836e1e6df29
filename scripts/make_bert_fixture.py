#!/usr/bin/env python3
"""Writes a tiny random BERT encoder (onnx.helper, opset 17) and its WordPiece tokenizer.json
(Hugging Face `tokenizers`) for the /v1/embeddings tests.

  OUT/model.onnx          input_ids, attention_mask, token_type_ids (int64 [batch, tokens])
                          → last_hidden_state (float [batch, tokens, 32]); 2 layers, 4 heads
  OUT/tokenizer.json      BERT normalizer (lower case, accents stripped), BERT pre-tokenizer,
                          WordPiece, [CLS] $A [SEP], truncation at 48 tokens
  OUT/model_with_tokenizer.onnx   the same model with tokenizer.json in metadata_props (a
                          self-contained registry version)

Usage: make_bert_fixture.py OUT_DIR [SEED]
"""
from __future__ import annotations

import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

HIDDEN, HEADS, FFN, LAYERS, MAX_POS = 32, 4, 64, 2, 64
WORDS = ("the a an of to and is in it on for with as was at by be this that from cat dog sat mat fox quick brown "
         "jumps over lazy hello world berth model serve token embed text cafe ing ed er es").split()


def vocabulary() -> dict[str, int]:
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokens += list("abcdefghijklmnopqrstuvwxyz0123456789.,!?;:'\"()-")
    tokens += ["##" + c for c in "abcdefghijklmnopqrstuvwxyz0123456789"]
    tokens += WORDS + ["##ing", "##ed", "##er"]
    return {t: i for i, t in enumerate(dict.fromkeys(tokens))}


def tokenizer() -> Tokenizer:
    vocab = vocabulary()
    tok = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
                                                       special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])])
    tok.enable_truncation(max_length=48)
    return tok


def model(vocab_size: int, seed: int) -> onnx.ModelProto:
    rng = np.random.default_rng(seed)
    inits, nodes = [], []

    def w(name, *shape, scale=0.2):
        inits.append(numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name))
        return name

    def const(name, value):
        inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(op, ins, out, **attrs):
        nodes.append(helper.make_node(op, ins, [out], name=out, **attrs))
        return out

    def layer_norm(x, prefix):
        inits.append(numpy_helper.from_array((1 + 0.1 * rng.standard_normal(HIDDEN)).astype(np.float32), prefix + "_g"))
        inits.append(numpy_helper.from_array((0.1 * rng.standard_normal(HIDDEN)).astype(np.float32), prefix + "_b"))
        return node("LayerNormalization", [x, prefix + "_g", prefix + "_b"], prefix + "_out", axis=-1, epsilon=1e-12)

    def linear(x, prefix, n_in, n_out):
        y = node("MatMul", [x, w(prefix + "_w", n_in, n_out)], prefix + "_mm")
        return node("Add", [y, w(prefix + "_bias", n_out, scale=0.05)], prefix + "_out")

    hd = HIDDEN // HEADS
    words = node("Gather", [w("word_embeddings", vocab_size, HIDDEN, scale=1.0), "input_ids"], "words")
    shape = node("Shape", ["input_ids"], "ids_shape")
    length = node("Gather", [shape, const("one", np.array(1, np.int64))], "length")
    pos = node("Range", [const("zero_i", np.array(0, np.int64)), length, const("one_i", np.array(1, np.int64))], "positions")
    pos_emb = node("Gather", [w("position_embeddings", MAX_POS, HIDDEN, scale=0.5), pos], "pos_emb")
    types = node("Gather", [w("token_type_embeddings", 2, HIDDEN, scale=0.5), "token_type_ids"], "types")
    x = node("Add", [node("Add", [words, pos_emb], "emb1"), types], "emb2")
    x = layer_norm(x, "emb_ln")
    maskf = node("Cast", ["attention_mask"], "mask_f", to=TensorProto.FLOAT)
    neg = node("Mul", [node("Sub", [const("one_f", np.array(1, np.float32)), maskf], "mask_inv"),
                       const("big_neg", np.array(-10000, np.float32))], "mask_neg")
    bias = node("Unsqueeze", [neg, const("axes12", np.array([1, 2], np.int64))], "mask_bias")
    heads_shape = const("heads_shape", np.array([0, 0, HEADS, hd], np.int64))
    merge_shape = const("merge_shape", np.array([0, 0, HIDDEN], np.int64))
    scale = const("scale", np.array(1 / np.sqrt(hd), np.float32))
    for i in range(LAYERS):
        p = f"l{i}"
        q = node("Transpose", [node("Reshape", [linear(x, p + "_q", HIDDEN, HIDDEN), heads_shape], p + "_qr")], p + "_qt", perm=[0, 2, 1, 3])
        k = node("Transpose", [node("Reshape", [linear(x, p + "_k", HIDDEN, HIDDEN), heads_shape], p + "_kr")], p + "_kt", perm=[0, 2, 3, 1])
        v = node("Transpose", [node("Reshape", [linear(x, p + "_v", HIDDEN, HIDDEN), heads_shape], p + "_vr")], p + "_vt", perm=[0, 2, 1, 3])
        scores = node("Add", [node("Mul", [node("MatMul", [q, k], p + "_qk"), scale], p + "_scaled"), bias], p + "_masked")
        probs = node("Softmax", [scores], p + "_probs", axis=-1)
        ctx = node("Transpose", [node("MatMul", [probs, v], p + "_ctx")], p + "_ctxt", perm=[0, 2, 1, 3])
        attn = linear(node("Reshape", [ctx, merge_shape], p + "_merged"), p + "_o", HIDDEN, HIDDEN)
        x = layer_norm(node("Add", [x, attn], p + "_res1"), p + "_ln1")
        h = linear(x, p + "_up", HIDDEN, FFN)
        erf = node("Erf", [node("Div", [h, const(p + "_sqrt2", np.array(np.sqrt(2), np.float32))], p + "_hs")], p + "_erf")
        gelu = node("Mul", [node("Mul", [h, node("Add", [erf, const(p + "_one", np.array(1, np.float32))], p + "_erf1")], p + "_he"),
                            const(p + "_half", np.array(0.5, np.float32))], p + "_gelu")
        x = layer_norm(node("Add", [x, linear(gelu, p + "_down", FFN, HIDDEN)], p + "_res2"), p + "_ln2")
    nodes.append(helper.make_node("Identity", [x], ["last_hidden_state"], name="last_hidden_state"))
    ins = [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "tokens"]) for n in ("input_ids", "attention_mask", "token_type_ids")]
    out = helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "tokens", HIDDEN])
    graph = helper.make_graph(nodes, "tiny_bert", ins, [out], initializer=inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="make_bert_fixture")
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


def main() -> None:
    out = sys.argv[1]
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    os.makedirs(out, exist_ok=True)
    tok = tokenizer()
    tok.save(os.path.join(out, "tokenizer.json"))
    m = model(tok.get_vocab_size(), seed)
    onnx.save(m, os.path.join(out, "model.onnx"))
    helper.set_model_props(m, {"tokenizer.json": tok.to_str()})
    onnx.save(m, os.path.join(out, "model_with_tokenizer.onnx"))


if __name__ == "__main__":
    main()
