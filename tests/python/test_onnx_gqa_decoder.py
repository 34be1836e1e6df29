"""An ONNX decoder whose attention is com.microsoft GroupQueryAttention (ORT GenAI's model-builder
layout: seqlens_k and total_sequence_length computed from attention_mask, rotary inside the op, no
position_ids), served by `berth serve --llm NAME=FOLDER`.

The decoder comes from scripts/make_onnx_gqa_decoder.py (2 layers, random weights). Reference: ONNX
Runtime run step by step (prefill, then one token at a time with `present` as `past`). The greedy
tokens for 16 steps must be the same, and at every step the chosen token's log-probability must
equal log_softmax of ORT's logits within 1e-4 (float32 through two layers, as test_onnx_decoder).
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import onnxruntime as ort
import openai
import pytest
from tokenizers import Tokenizer

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import berthpy  # noqa: E402
from conftest import berth_path  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
STEPS = 16
TOL = 1e-4
PROMPT = "The capital of France is"


@pytest.fixture(scope="module")
def decoder(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gqa_decoder")
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_onnx_gqa_decoder.py"), str(out)], check=True,
                   cwd=ROOT / "scripts")
    return out


@pytest.fixture(scope="module")
def server(decoder, tmp_path_factory):
    port = berthpy.free_port()
    log = tmp_path_factory.mktemp("log") / "serve.log"
    with open(log, "wb") as f:
        proc = subprocess.Popen([str(berth_path()), "serve", "--insecure-no-auth", "--port", str(port), "--grpc-port", "0",
                                 "--llm", f"gqa={decoder}"], stdout=f, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    for _ in range(600):
        assert proc.poll() is None, log.read_text()
        try:
            urllib.request.urlopen(base + "/v1/models", timeout=2).read()
            break
        except OSError:
            time.sleep(0.1)
    yield base
    berthpy.stop_process(proc)


def ort_greedy(decoder: Path, prompt: list[int], steps: int) -> tuple[list[int], list[np.ndarray]]:
    """ORT step by step: the greedy tokens and the log_softmax of the logits before each."""
    sess = ort.InferenceSession(str(decoder / "model.onnx"), providers=["CPUExecutionProvider"])
    d = json.loads((decoder / "genai_config.json").read_text())["model"]["decoder"]
    layers, empty = d["num_hidden_layers"], np.zeros((1, d["num_key_value_heads"], 0, d["head_size"]), np.float32)
    past = {f"past_key_values.{i}.{k}": empty for i in range(layers) for k in ("key", "value")}
    names = [o.name for o in sess.get_outputs()]
    tokens, logps, feed, pos = [], [], prompt, 0
    for _ in range(steps):
        out = dict(zip(names, sess.run(None, {"input_ids": np.array([feed], np.int64),
                                              "attention_mask": np.ones((1, pos + len(feed)), np.int64), **past})))
        logits = out["logits"][0, -1].astype(np.float64)
        logps.append(logits - (np.log(np.exp(logits - logits.max()).sum()) + logits.max()))
        past = {f"past_key_values.{i}.{k}": out[f"present.{i}.{k}"] for i in range(layers) for k in ("key", "value")}
        pos += len(feed)
        t = int(np.argmax(logits))
        tokens.append(t)
        feed = [t]
    return tokens, logps


def test_gqa_decoder_greedy_equals_ort_step_by_step(server, decoder):
    tok = Tokenizer.from_file(str(decoder / "tokenizer.json"))
    prompt = tok.encode(PROMPT).ids
    want, logps = ort_greedy(decoder, prompt, STEPS)
    client = openai.OpenAI(base_url=server + "/v1", api_key="unused", max_retries=0)
    r = client.completions.create(model="gqa", prompt=prompt, max_tokens=STEPS, temperature=0, logprobs=5,
                                  extra_body={"ignore_eos": True})
    lp = r.choices[0].logprobs
    assert r.usage.completion_tokens == STEPS and len(lp.token_logprobs) == STEPS
    for step in range(STEPS):
        ref = logps[step]
        assert abs(lp.token_logprobs[step] - ref[want[step]]) <= TOL, (step, lp.token_logprobs[step], ref[want[step]])
    assert r.choices[0].text == tok.decode(want), (r.choices[0].text, tok.decode(want))


def test_gqa_decoder_chat_stream_equals_whole_answer(server):
    client = openai.OpenAI(base_url=server + "/v1", api_key="unused", max_retries=0)
    msgs = [{"role": "user", "content": "Hello world!"}]
    whole = client.chat.completions.create(model="gqa", messages=msgs, max_tokens=12, temperature=0, extra_body={"ignore_eos": True})
    chunks = list(client.chat.completions.create(model="gqa", messages=msgs, max_tokens=12, temperature=0, stream=True,
                                                 extra_body={"ignore_eos": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == whole.choices[0].message.content
    assert whole.usage.completion_tokens == 12
