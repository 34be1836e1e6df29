#!/usr/bin/env python3
"""Writes tiny random LLaMA-family GGUF files (with the `gguf` package) for BerthGenerate's tests.

Each file has a few layers, small dimensions and a real small vocabulary learnt from a short
English text, so the tokenizer is exercised:
  llama_float.gguf   llama, SentencePiece vocabulary, F32/F16/BF16 weights, linear RoPE scaling
  llama_q8_q4.gguf   llama, SentencePiece vocabulary, Q8_0/Q4_0/Q4_1 weights, Mistral chat template
  llama_kquant.gguf  llama, SentencePiece vocabulary, Q4_K/Q5_K/Q6_K weights (random blocks)
  qwen2_q8.gguf      qwen2 (Q/K/V biases, neox RoPE), GPT-2 byte-level BPE, F32/Q8_0, tied embeddings, ChatML
  qwen2_pre_qwen2.gguf, llama3_pre_llama3.gguf, smollm_pre_smollm.gguf
                     one-layer F32 models for the qwen2 / llama3 / smollm pre-tokenizers

Usage: make_gguf_fixtures.py [OUT_DIR]   (default tests/python/fixtures/gguf)
"""
import os
import re
import sys
from collections import Counter

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T

CORPUS = """The quick brown fox jumps over the lazy dog. Hello world! Berth serves models:
language models, vision models and tabular models, with a registry, canaries and rollbacks.
A model is a version; a version is loaded, warmed, switched and drained. Tokens stream out one by one.
What is the capital of France? The capital of France is Paris. 1 2 3 4 5 6 7 8 9 10 100 2024.
She said: "It's fine, we'll see." They're here; I'm there, you've gone and he'd stay.
Numbers, punctuation (brackets), [lists], {sets} and symbols #$%&*+-/<=>@^_|~ are all here.
"""

CHATML = ("{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
          "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}"
          "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
          "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")
MISTRAL = ("{{ bos_token }}{% for message in messages %}"
           "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
           "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
           "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'].strip() + ' [/INST]' }}"
           "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token }}"
           "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}")


def train_merges(words, n_merges):
    """Plain BPE: repeatedly merge the most frequent adjacent pair (ties by first appearance)."""
    seqs = Counter(tuple(w) for w in words)
    merges = []
    for _ in range(n_merges):
        pairs = Counter()
        for s, c in seqs.items():
            for a, b in zip(s, s[1:]):
                pairs[(a, b)] += c
        if not pairs:
            break
        best = max(pairs.items(), key=lambda kv: kv[1])[0]
        merges.append(best)
        new = Counter()
        for s, c in seqs.items():
            out, i = [], 0
            while i < len(s):
                if i + 1 < len(s) and (s[i], s[i + 1]) == best:
                    out.append(s[i] + s[i + 1]); i += 2
                else:
                    out.append(s[i]); i += 1
            new[tuple(out)] += c
        seqs = new
    return merges


def spm_vocab():
    """SentencePiece-style vocabulary: <unk>, <s>, </s>, 256 byte pieces, characters and merged pieces."""
    text = CORPUS.replace("\n", " ")
    words = ["\u2581" + w for w in text.split(" ") if w]
    chars = sorted(set("".join(words)))
    merges = train_merges(words, 120)
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    types = [2, 3, 3] + [6] * 256
    scores = [0.0, 0.0, 0.0] + [0.0] * 256
    pieces = []
    for a, b in merges:
        if a + b not in pieces:
            pieces.append(a + b)
    for i, p in enumerate(pieces):  # earlier merges score higher, as in a unigram/BPE SentencePiece model
        tokens.append(p); types.append(1); scores.append(-float(i))
    for c in chars:
        if c not in tokens:
            tokens.append(c); types.append(1); scores.append(-1000.0 - len(tokens))
    return tokens, scores, types


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b); cs.append(256 + n); n += 1
    return dict(zip(bs, map(chr, cs)))


def bpe_vocab():
    """GPT-2 byte-level BPE vocabulary with merges, plus ChatML special tokens."""
    b2u = bytes_to_unicode()
    pat = re.compile(r"'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+")
    words = ["".join(b2u[b] for b in w.encode()) for w in pat.findall(CORPUS)]
    merges = train_merges(words, 150)
    tokens = [b2u[b] for b in range(256)]
    for a, b in merges:
        if a + b not in tokens:
            tokens.append(a + b)
    types = [1] * len(tokens)
    for s in ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]:
        tokens.append(s); types.append(3)
    return tokens, types, [f"{a} {b}" for a, b in merges]


def k_blocks(rng, qtype, rows, cols):
    """Random but well-formed K-quant blocks: random bits with small positive half scales."""
    bsize, tsize = gguf.GGML_QUANT_SIZES[qtype]
    nb = cols // bsize
    raw = rng.integers(0, 256, size=(rows, nb, tsize), dtype=np.uint8)
    d = np.frombuffer(np.float16(0.004).tobytes(), dtype=np.uint8)
    dmin = np.frombuffer(np.float16(0.002).tobytes(), dtype=np.uint8)
    if qtype == T.Q6_K:
        raw[:, :, 192:208] = rng.integers(-20, 20, size=(rows, nb, 16)).astype(np.int8).view(np.uint8)
        raw[:, :, 208:210] = d
    else:
        raw[:, :, 0:2] = d
        raw[:, :, 2:4] = dmin
    return raw.reshape(rows, nb * tsize)


def add_weight(w, rng, name, rows, cols, qtype, std):
    """A rows × cols weight (GGUF shape [cols, rows]) of qtype."""
    if qtype in (T.Q4_K, T.Q5_K, T.Q6_K):
        w.add_tensor(name, k_blocks(rng, qtype, rows, cols), raw_dtype=qtype)
        return
    x = (rng.standard_normal((rows, cols)) * std).astype(np.float32)
    if qtype == T.F32:
        w.add_tensor(name, x)
    elif qtype == T.F16:
        w.add_tensor(name, x.astype(np.float16))
    else:
        w.add_tensor(name, gguf.quants.quantize(x, qtype), raw_dtype=qtype)


def write_model(path, arch, *, hidden, layers, heads, kv_heads, ffn, types, tokenizer, template,
                tied=False, biases=False, rope_scale=None, rope_base=10000.0, seed=0, pre="gpt-2", context=256):
    rng = np.random.default_rng(seed)
    w = gguf.GGUFWriter(path, arch)
    w.add_name(os.path.basename(path))
    w.add_context_length(context)
    w.add_embedding_length(hidden)
    w.add_block_count(layers)
    w.add_feed_forward_length(ffn)
    w.add_head_count(heads)
    w.add_head_count_kv(kv_heads)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_freq_base(rope_base)
    w.add_rope_dimension_count(hidden // heads)
    if rope_scale:
        w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        w.add_rope_scaling_factor(rope_scale)
    w.add_file_type(1)
    if tokenizer == "llama":
        tokens, scores, ttypes = spm_vocab()
        w.add_tokenizer_model("llama")
        w.add_token_list(tokens); w.add_token_scores(scores); w.add_token_types(ttypes)
        w.add_bos_token_id(1); w.add_eos_token_id(2); w.add_unk_token_id(0)
        w.add_add_bos_token(True); w.add_add_eos_token(False)
    else:
        tokens, ttypes, merges = bpe_vocab()
        w.add_tokenizer_model("gpt2")
        w.add_tokenizer_pre(pre)
        w.add_token_list(tokens); w.add_token_types(ttypes); w.add_token_merges(merges)
        eos = tokens.index("<|im_end|>")
        w.add_bos_token_id(tokens.index("<|endoftext|>")); w.add_eos_token_id(eos)
        w.add_add_bos_token(False)
    w.add_chat_template(template)
    vocab = len(tokens)
    w.add_vocab_size(vocab)
    hd = hidden // heads
    t = dict(types)
    add_weight(w, rng, "token_embd.weight", vocab, hidden, t["embd"], 1.0)
    w.add_tensor("output_norm.weight", (1 + 0.1 * rng.standard_normal(hidden)).astype(np.float32))
    if not tied:
        add_weight(w, rng, "output.weight", vocab, hidden, t["output"], 0.3)
    for i in range(layers):
        p = f"blk.{i}."
        w.add_tensor(p + "attn_norm.weight", (1 + 0.1 * rng.standard_normal(hidden)).astype(np.float32))
        w.add_tensor(p + "ffn_norm.weight", (1 + 0.1 * rng.standard_normal(hidden)).astype(np.float32))
        add_weight(w, rng, p + "attn_q.weight", heads * hd, hidden, t["q"], 0.3)
        add_weight(w, rng, p + "attn_k.weight", kv_heads * hd, hidden, t["k"], 0.3)
        add_weight(w, rng, p + "attn_v.weight", kv_heads * hd, hidden, t["v"], 0.3)
        add_weight(w, rng, p + "attn_output.weight", hidden, heads * hd, t["o"], 0.1)
        add_weight(w, rng, p + "ffn_gate.weight", ffn, hidden, t["gate"], 0.2)
        add_weight(w, rng, p + "ffn_up.weight", ffn, hidden, t["up"], 0.2)
        add_weight(w, rng, p + "ffn_down.weight", hidden, ffn, t["down"], 0.1)
        if biases:
            for n, size in (("attn_q.bias", heads * hd), ("attn_k.bias", kv_heads * hd), ("attn_v.bias", kv_heads * hd)):
                w.add_tensor(p + n, (0.1 * rng.standard_normal(size)).astype(np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "python", "fixtures", "gguf")
    os.makedirs(out, exist_ok=True)
    write_model(os.path.join(out, "llama_float.gguf"), "llama", hidden=64, layers=2, heads=4, kv_heads=2, ffn=128,
                types=dict(embd=T.F32, output=T.F16, q=T.F32, k=T.F16, v=T.BF16, o=T.F32, gate=T.F16, up=T.BF16, down=T.F32),
                tokenizer="llama", template=MISTRAL, rope_scale=2.0, rope_base=50000.0, seed=1)
    write_model(os.path.join(out, "llama_q8_q4.gguf"), "llama", hidden=128, layers=2, heads=4, kv_heads=1, ffn=256,
                types=dict(embd=T.Q8_0, output=T.Q8_0, q=T.Q4_0, k=T.Q4_1, v=T.Q8_0, o=T.Q4_0, gate=T.Q4_1, up=T.Q8_0, down=T.Q4_0),
                tokenizer="llama", template=MISTRAL, seed=2)
    write_model(os.path.join(out, "llama_kquant.gguf"), "llama", hidden=256, layers=2, heads=4, kv_heads=2, ffn=512,
                types=dict(embd=T.Q6_K, output=T.Q6_K, q=T.Q4_K, k=T.Q5_K, v=T.Q6_K, o=T.Q4_K, gate=T.Q5_K, up=T.Q4_K, down=T.Q6_K),
                tokenizer="llama", template=MISTRAL, seed=3)
    write_model(os.path.join(out, "qwen2_q8.gguf"), "qwen2", hidden=64, layers=2, heads=4, kv_heads=2, ffn=128,
                types=dict(embd=T.F32, output=T.F32, q=T.Q8_0, k=T.Q8_0, v=T.F32, o=T.Q8_0, gate=T.Q8_0, up=T.F32, down=T.Q8_0),
                tokenizer="gpt2", template=CHATML, tied=True, biases=True, seed=4)
    # Qwen2's own pre-tokenizer split (single digits, letters with one leading non-letter, newlines).
    write_model(os.path.join(out, "qwen2_pre_qwen2.gguf"), "qwen2", hidden=64, layers=1, heads=2, kv_heads=1, ffn=64,
                types=dict(embd=T.F32, output=T.F32, q=T.F32, k=T.F32, v=T.F32, o=T.F32, gate=T.F32, up=T.F32, down=T.F32),
                tokenizer="gpt2", template=CHATML, tied=True, biases=True, seed=5, pre="qwen2")
    write_model(os.path.join(out, "llama3_pre_llama3.gguf"), "llama", hidden=64, layers=1, heads=2, kv_heads=1, ffn=64,
                types=dict(embd=T.F32, output=T.F32, q=T.F32, k=T.F32, v=T.F32, o=T.F32, gate=T.F32, up=T.F32, down=T.F32),
                tokenizer="gpt2", template=CHATML, seed=6, pre="llama3")
    write_model(os.path.join(out, "smollm_pre_smollm.gguf"), "llama", hidden=64, layers=1, heads=2, kv_heads=1, ffn=64,
                types=dict(embd=T.F32, output=T.F32, q=T.F32, k=T.F32, v=T.F32, o=T.F32, gate=T.F32, up=T.F32, down=T.F32),
                tokenizer="gpt2", template=CHATML, seed=7, pre="smollm")


if __name__ == "__main__":
    main()
