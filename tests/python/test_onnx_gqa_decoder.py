"""An ONNX decoder whose attention is com.microsoft GroupQueryAttention (ORT GenAI's model-builder
layout: seqlens_k and total_sequence_length computed from attention_mask, rotary inside the op, no
position_ids), served by `berth serve --llm NAME=FOLDER`.

The decoder comes from scripts/make_onnx_gqa_decoder.py (2 layers, random weights). Reference: ONNX
Runtime run step by step (prefill, then one token at a time with `present` as `past`). The greedy
tokens for 16 steps must be the same, and at every step the chosen token's log-probability must
equal log_softmax of ORT's logits within 1e-4 (float32 through two layers, as test_onnx_decoder).
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import openai
import pytest
from tokenizers import Tokenizer

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import berthpy  # noqa: E402
from conftest import berth_path  # noqa: E402
from test_onnx_decoder import ort_greedy  # noqa: E402

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
    proc, base = berthpy.start_serve(berth_path(), ["--insecure-no-auth", "--llm", f"gqa={decoder}"],
                                     tmp_path_factory.mktemp("log") / "serve.log", ready="/v1/models")
    yield base
    berthpy.stop_process(proc)


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
