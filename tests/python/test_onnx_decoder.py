"""ONNX decoders (Optimum / ORT GenAI layout: past_key_values.N.key/value in, present.N.* out,
genai_config.json) served by `berth serve --llm NAME=FOLDER` through the generation engine.

The decoder comes from scripts/make_onnx_decoder.py (2 LLaMA-like layers with grouped-query
attention, random weights). The
reference is ONNX Runtime run step by step the same way (prefill, then one token at a time with
the previous `present` as `past`): the greedy tokens for 16 steps must be the same, and at every
step the chosen token's log-probability and the 20 largest log-probabilities must equal
log_softmax of ORT's logits within 1e-4 (float32 through two layers; log_softmax subtracts the
same logsumexp from every logit, so this compares the logits up to one constant per step).
"""
from __future__ import annotations

import json
import subprocess
import sys
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
    out = tmp_path_factory.mktemp("decoder")
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_onnx_decoder.py"), str(out)], check=True)
    return out


@pytest.fixture(scope="module")
def server(decoder, tmp_path_factory):
    proc, base = berthpy.start_serve(berth_path(), ["--insecure-no-auth", "--llm", f"dec={decoder}"],
                                     tmp_path_factory.mktemp("log") / "serve.log", ready="/v1/models")
    yield base
    berthpy.stop_process(proc)


def ort_greedy(decoder: Path, prompt: list[int], steps: int) -> tuple[list[int], list[np.ndarray]]:
    """ORT step by step: the greedy tokens and the log_softmax of the logits before each."""
    sess = ort.InferenceSession(str(decoder / "model.onnx"), providers=["CPUExecutionProvider"])
    d = json.loads((decoder / "genai_config.json").read_text())["model"]["decoder"]
    layers, empty = d["num_hidden_layers"], np.zeros((1, d["num_key_value_heads"], 0, d["head_size"]), np.float32)
    past = {f"past_key_values.{i}.{k}": empty for i in range(layers) for k in ("key", "value")}
    names = [o.name for o in sess.get_outputs()]
    # ORT GenAI's GroupQueryAttention layout has no position_ids input (rotary is inside the op).
    positions = any(i.name == "position_ids" for i in sess.get_inputs())
    tokens, logps, feed, pos = [], [], prompt, 0
    for _ in range(steps):
        feeds = {"input_ids": np.array([feed], np.int64), "attention_mask": np.ones((1, pos + len(feed)), np.int64), **past}
        if positions:
            feeds["position_ids"] = np.arange(pos, pos + len(feed), dtype=np.int64)[None]
        out = dict(zip(names, sess.run(None, feeds)))
        logits = out["logits"][0, -1].astype(np.float64)
        logps.append(logits - (np.log(np.exp(logits - logits.max()).sum()) + logits.max()))
        past = {f"past_key_values.{i}.{k}": out[f"present.{i}.{k}"] for i in range(layers) for k in ("key", "value")}
        pos += len(feed)
        t = int(np.argmax(logits))
        tokens.append(t)
        feed = [t]
    return tokens, logps


def test_greedy_tokens_and_logits_equal_ort_step_by_step(server, decoder):
    tok = Tokenizer.from_file(str(decoder / "tokenizer.json"))
    prompt = tok.encode(PROMPT).ids
    want, logps = ort_greedy(decoder, prompt, STEPS)
    client = openai.OpenAI(base_url=server + "/v1", api_key="unused", max_retries=0)
    r = client.completions.create(model="dec", prompt=prompt, max_tokens=STEPS, temperature=0, logprobs=20,
                                  extra_body={"ignore_eos": True})
    lp = r.choices[0].logprobs
    assert r.usage.completion_tokens == STEPS and len(lp.token_logprobs) == STEPS
    for step in range(STEPS):
        ref = logps[step]
        assert abs(lp.token_logprobs[step] - ref[want[step]]) <= TOL, (step, lp.token_logprobs[step], ref[want[step]])
        assert want[step] == int(np.argmax(ref))
        # top_logprobs is keyed by token text, so ids that print alike (invalid UTF-8 bytes) share
        # one entry (the last written): every value must be one of ORT's 20 largest.
        got_top = np.array(sorted(lp.top_logprobs[step].values(), reverse=True))
        ref_top = np.sort(ref)[::-1][:20]
        assert len(got_top) >= 5
        assert all(np.abs(ref_top - v).min() <= TOL for v in got_top), (step, got_top, ref_top)
    assert r.choices[0].text == tok.decode(want), (r.choices[0].text, tok.decode(want))


def test_tokenizer_json_bpe_matches_tokenizers(server, decoder):
    tok = Tokenizer.from_file(str(decoder / "tokenizer.json"))
    for text in (PROMPT, "Hello world! Serving 2026 tokens.", "lazy  dogs\nand foxes"):
        req = urllib.request.Request(server + "/tokenize", data=json.dumps({"model": "dec", "prompt": text}).encode(),
                                     headers={"Content-Type": "application/json"})
        got = json.loads(urllib.request.urlopen(req, timeout=30).read())["tokens"]
        assert got == tok.encode(text).ids, text


def test_chat_stream_equals_whole_answer(server):
    client = openai.OpenAI(base_url=server + "/v1", api_key="unused", max_retries=0)
    msgs = [{"role": "user", "content": "Hello world!"}]
    whole = client.chat.completions.create(model="dec", messages=msgs, max_tokens=12, temperature=0, extra_body={"ignore_eos": True})
    chunks = list(client.chat.completions.create(model="dec", messages=msgs, max_tokens=12, temperature=0, stream=True,
                                                 extra_body={"ignore_eos": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == whole.choices[0].message.content
    assert whole.usage.completion_tokens == 12
    assert [m.id for m in client.models.list().data] == ["dec"]


def test_bad_decoder_folder_exits_2(tmp_path, decoder):
    (tmp_path / "model.onnx").write_bytes((decoder / "model.onnx").read_bytes()[:5000])
    (tmp_path / "tokenizer.json").write_bytes((decoder / "tokenizer.json").read_bytes())
    r = subprocess.run([str(berth_path()), "serve", "--insecure-no-auth", "--port", "0", "--llm", f"m={tmp_path}"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "model.onnx" in r.stderr, r.stderr


def test_registry_version_of_a_decoder(tmp_path, decoder):
    """A decoder pushed to the registry (companions in metadata_props) serves on the OpenAI routes."""
    from test_registry_server import Server, cli
    data = tmp_path / "data"
    cli(data, "push", "dec", str(decoder / "model_with_metadata.onnx"))
    cli(data, "alias", "dec", "production", "1")
    server = Server(data, tmp_path / "server.log")
    try:
        tok = Tokenizer.from_file(str(decoder / "tokenizer.json"))
        prompt = tok.encode(PROMPT).ids
        want, _ = ort_greedy(decoder, prompt, STEPS)
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{server.port}/v1", api_key="unused", max_retries=0)
        r = client.completions.create(model="dec", prompt=prompt, max_tokens=STEPS, temperature=0, extra_body={"ignore_eos": True})
        assert r.choices[0].text == tok.decode(want)
        assert [m.id for m in client.models.list().data] == ["dec"]
        # Not also served as a V2 model.
        assert server.request("GET", "/v2/models/dec")[0] == 404
    finally:
        server.stop()
