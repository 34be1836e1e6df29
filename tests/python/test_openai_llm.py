"""The OpenAI-compatible API of `berth serve --llm`, driven by the official `openai` client.

The GGUF models are the tiny random LLaMA-family files of scripts/make_gguf_fixtures.py, written
at test time; the greedy continuation is also checked against llama.cpp's, recorded once by
scripts/make_llama_reference.py in tests/python/fixtures/gguf/*.reference.json.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import openai
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import berthpy  # noqa: E402
from conftest import berth_path  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "python" / "fixtures" / "gguf"


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gguf")
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_gguf_fixtures.py"), str(out)], check=True)
    return out


@pytest.fixture(scope="module")
def server(models, tmp_path_factory):
    proc, base = berthpy.start_serve(berth_path(), ["--insecure-no-auth", "--llm", f"llama={FIXTURES / 'llama_q8_q4.gguf'}",
                                                    "--llm", f"qwen={models / 'qwen2_q8.gguf'}"],
                                     tmp_path_factory.mktemp("log") / "serve.log", ready="/v1/models")
    yield base
    berthpy.stop_process(proc)


@pytest.fixture()
def client(server):
    return openai.OpenAI(base_url=server + "/v1", api_key="unused", max_retries=0, timeout=60)


def post(server: str, path: str, body: dict) -> tuple[int, dict]:
    req = urllib.request.Request(server + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def serve_llama(tmp_path: Path, *args: str) -> tuple[subprocess.Popen, str]:
    """`berth serve ARGS --llm llama=…` on a free port, logging to tmp_path/serve.log, once it is live."""
    return berthpy.start_serve(berth_path(), [*args, "--llm", f"llama={FIXTURES / 'llama_q8_q4.gguf'}"], tmp_path / "serve.log")


HELLO = [{"role": "user", "content": "Hello world!"}]


def test_models_are_listed(client):
    ids = sorted(m.id for m in client.models.list().data)
    assert ids == ["llama", "qwen"]


def test_chat_counts_usage_like_tokenize(client, server):
    r = client.chat.completions.create(model="qwen", messages=HELLO, max_tokens=8, temperature=0, extra_body={"ignore_eos": True})
    assert r.object == "chat.completion"
    assert r.choices[0].message.role == "assistant"
    assert r.choices[0].finish_reason == "length"
    status, tok = post(server, "/tokenize", {"model": "qwen", "messages": HELLO})
    assert status == 200
    assert r.usage.prompt_tokens == tok["count"]
    assert r.usage.completion_tokens == 8
    assert r.usage.total_tokens == tok["count"] + 8


def test_streamed_chat_equals_whole_answer(client):
    whole = client.chat.completions.create(model="qwen", messages=HELLO, max_tokens=12, temperature=0, extra_body={"ignore_eos": True})
    chunks = list(client.chat.completions.create(model="qwen", messages=HELLO, max_tokens=12, temperature=0, stream=True,
                                                 stream_options={"include_usage": True}, extra_body={"ignore_eos": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert chunks[0].choices[0].delta.role == "assistant"
    finals = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finals == ["length"]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 12
    assert chunks[-1].usage.prompt_tokens == whole.usage.prompt_tokens


def test_greedy_completion_matches_llama_cpp(client):
    """The prompt's token ids through /v1/completions give llama.cpp's 32 greedy tokens as text."""
    ref = json.loads((FIXTURES / "llama_q8_q4.reference.json").read_text())
    r = client.completions.create(model="llama", prompt=ref["prompt_tokens"], max_tokens=32, temperature=0, logprobs=1,
                                  extra_body={"ignore_eos": True})
    assert r.choices[0].text == ref["detokenize"]
    assert r.usage.completion_tokens == 32
    assert len(r.choices[0].logprobs.token_logprobs) == 32
    assert all(lp <= 0 for lp in r.choices[0].logprobs.token_logprobs)


def test_streamed_completion_equals_whole(client):
    whole = client.completions.create(model="llama", prompt="The capital of France is", max_tokens=16, temperature=0,
                                      extra_body={"ignore_eos": True})
    parts = list(client.completions.create(model="llama", prompt="The capital of France is", max_tokens=16, temperature=0,
                                           stream=True, extra_body={"ignore_eos": True}))
    assert "".join(p.choices[0].text for p in parts if p.choices) == whole.choices[0].text
    assert whole.usage.completion_tokens == 16


def test_stop_string_cuts_the_answer(client):
    full = client.completions.create(model="llama", prompt="Hello", max_tokens=24, temperature=0, extra_body={"ignore_eos": True})
    text = full.choices[0].text
    pair = next(i for i in range(1, len(text) - 1) if text[i:i + 2].isascii() and text[i:i + 2].isalpha())
    stop = text[pair:pair + 2]
    for stream in (False, True):
        r = client.completions.create(model="llama", prompt="Hello", max_tokens=24, temperature=0, stop=[stop], stream=stream,
                                      extra_body={"ignore_eos": True})
        if stream:
            chunks = list(r)
            got = "".join(c.choices[0].text for c in chunks if c.choices)
            reason = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
        else:
            got, reason = r.choices[0].text, [r.choices[0].finish_reason]
        assert got == text[: text.index(stop)]
        assert reason == ["stop"]


def test_seeded_sampling_is_reproducible(client):
    def sample(seed):
        return client.chat.completions.create(model="qwen", messages=HELLO, max_tokens=16, temperature=1.0, top_p=0.95,
                                              seed=seed, extra_body={"ignore_eos": True}).choices[0].message.content
    assert sample(7) == sample(7)
    assert sample(7) != sample(8)


def test_several_choices(client, server):
    """`n` choices: choice i samples with seed + i, so each equals a single seeded request (the
    reference is the server's own n = 1 path, which the tests above hold to llama.cpp); usage counts
    the prompt once and every choice's tokens; streamed choices arrive by index and add up to the
    whole answer; n outside 1…16 is a 400."""
    def single(seed):
        r = client.chat.completions.create(model="qwen", messages=HELLO, max_tokens=6, temperature=1.0, seed=seed,
                                           extra_body={"ignore_eos": True})
        return r.choices[0].message.content, r.usage.prompt_tokens
    r = client.chat.completions.create(model="qwen", messages=HELLO, max_tokens=6, temperature=1.0, seed=40, n=3,
                                       extra_body={"ignore_eos": True})
    assert [c.index for c in r.choices] == [0, 1, 2]
    texts = [c.message.content for c in r.choices]
    want = [single(40 + i) for i in range(3)]
    assert texts == [t for t, _ in want]
    assert len(set(texts)) > 1  # different seeds, different samples
    assert r.usage.prompt_tokens == want[0][1] and r.usage.completion_tokens == 3 * 6
    assert all(c.finish_reason == "length" for c in r.choices)
    # Streamed completions with n = 2 give the same texts as the whole answer.
    whole = client.completions.create(model="llama", prompt="Once upon", max_tokens=5, temperature=0.8, seed=3, n=2,
                                      extra_body={"ignore_eos": True})
    parts, usage = {0: "", 1: ""}, None
    for ch in client.completions.create(model="llama", prompt="Once upon", max_tokens=5, temperature=0.8, seed=3, n=2,
                                        stream=True, stream_options={"include_usage": True}, extra_body={"ignore_eos": True}):
        for c in ch.choices:
            parts[c.index] += c.text or ""
        usage = ch.usage or usage
    assert [parts[0], parts[1]] == [c.text for c in whole.choices]
    assert usage.completion_tokens == whole.usage.completion_tokens == 10
    for bad in (0, 17):
        status, body = post(server, "/v1/chat/completions", {"model": "qwen", "messages": HELLO, "n": bad})
        assert status == 400 and body["error"]["param"] == "n", body


def test_errors_have_openai_shape(client, server):
    with pytest.raises(openai.NotFoundError) as e:
        client.chat.completions.create(model="nope", messages=HELLO)
    assert e.value.status_code == 404
    assert e.value.body["code"] == "model_not_found"
    status, body = post(server, "/v1/chat/completions", {"model": "qwen", "messages": [{"content": "no role"}]})
    assert status == 400 and set(body["error"]) == {"message", "type", "param", "code"}
    status, body = post(server, "/v1/chat/completions", {"model": "qwen", "messages": "not a list"})
    assert status == 400 and body["error"]["type"] == "invalid_request_error"
    with pytest.raises(openai.BadRequestError) as e:
        client.completions.create(model="llama", prompt=[5] * 300, max_tokens=4)
    assert "maximum context length" in e.value.message
    with pytest.raises(openai.BadRequestError) as e:
        client.completions.create(model="llama", prompt="Hello", max_tokens=100000)
    assert "maximum context length" in e.value.message
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="qwen", messages=HELLO, temperature=-1)
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="qwen", messages=HELLO, n=40)
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="qwen", messages=HELLO, tools=[{"type": "function", "function": {"name": "f"}}])
    assert "tool" in e.value.message


def test_closing_a_stream_leaves_the_server_healthy(client):
    for _ in range(3):
        stream = client.completions.create(model="llama", prompt="Hello", max_tokens=200, temperature=0, stream=True,
                                           extra_body={"ignore_eos": True})
        for i, _chunk in enumerate(stream):
            if i == 2:
                break
        stream.close()
    r = client.completions.create(model="llama", prompt="Hello", max_tokens=4, temperature=0, extra_body={"ignore_eos": True})
    assert r.usage.completion_tokens == 4


def test_tokenize_detokenize_round_trip(server):
    status, tok = post(server, "/tokenize", {"model": "llama", "prompt": "The quick brown fox"})
    assert status == 200 and tok["tokens"][0] == 1  # BOS
    status, text = post(server, "/detokenize", {"model": "llama", "tokens": tok["tokens"]})
    assert status == 200 and text["prompt"] == "The quick brown fox"
    status, body = post(server, "/detokenize", {"model": "llama", "tokens": [10 ** 9]})
    assert status == 400


def test_bad_gguf_exits_2(tmp_path):
    good = (FIXTURES / "qwen2_q8.gguf").read_bytes()
    cases = {"truncated": good[: len(good) // 2], "header": good[:40], "empty": b"", "not-gguf": b"GGML" + good[4:]}
    for name, data in cases.items():
        p = tmp_path / f"{name}.gguf"
        p.write_bytes(data)
        r = subprocess.run([str(berth_path()), "serve", "--insecure-no-auth", "--port", "0", "--llm", f"m={p}"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 2, (name, r.stderr)
        assert "GGUF" in r.stderr, (name, r.stderr)


def test_metrics_use_vllm_names(client, server):
    client.completions.create(model="llama", prompt="Hello", max_tokens=3, temperature=0, extra_body={"ignore_eos": True})
    text = urllib.request.urlopen(server + "/metrics", timeout=10).read().decode()
    for name in ("berth_llm_time_to_first_token_seconds_count", "berth_llm_e2e_request_latency_seconds_count",
                 "berth_llm_inter_token_latency_seconds_count", "berth_llm_generation_tokens_total", "berth_llm_prompt_tokens_total"):
        samples = berthpy.prometheus_samples(text, name)
        assert any(labels.get("model_name") == "llama" and value > 0 for labels, value in samples), name
    assert berthpy.prometheus_samples(text, "berth_llm_kv_cache_usage_perc")


def test_llm_routes_need_an_invoker_key(tmp_path):
    """Auth applies to the OpenAI routes: no key 401, a viewer may list models but not generate (403),
    an invoker may generate."""
    data = tmp_path / "data"

    def key(role: str) -> str:
        p = subprocess.run([str(berth_path()), "keys", "create", "--tenant", "a", "--role", role, "--data-dir", str(data)],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        return p.stdout.strip().splitlines()[-1]

    viewer, invoker = key("viewer"), key("invoker")
    proc, base = serve_llama(tmp_path, "--data-dir", str(data))
    try:
        def status(path: str, k: str | None, body: dict | None = None) -> int:
            headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {k}"} if k else {})}
            req = urllib.request.Request(base + path, data=json.dumps(body).encode() if body else None, headers=headers)
            try:
                with urllib.request.urlopen(req, timeout=60) as r:
                    return r.status
            except urllib.error.HTTPError as e:
                return e.code

        chat = {"model": "llama", "messages": HELLO, "max_tokens": 2}
        assert status("/v1/models", None) == 401
        assert status("/v1/models", viewer) == 200
        for path, body in [("/v1/chat/completions", chat), ("/v1/completions", {"model": "llama", "prompt": "Hi", "max_tokens": 2}),
                           ("/tokenize", {"model": "llama", "prompt": "Hi"}), ("/detokenize", {"model": "llama", "tokens": [1]})]:
            assert status(path, None, body) == 401, path
            assert status(path, viewer, body) == 403, path
            assert status(path, invoker, body) == 200, path
        c = openai.OpenAI(base_url=base + "/v1", api_key=invoker, max_retries=0)
        assert c.chat.completions.create(model="llama", messages=HELLO, max_tokens=2).usage.completion_tokens <= 2
    finally:
        berthpy.stop_process(proc)


def tenant_with_quota(tmp_path: Path, rows_per_second: float) -> tuple[Path, str]:
    """A data directory with an invoker key of tenant `t` whose quota is `rows_per_second`; returns (data dir, key)."""
    data, b = tmp_path / "data", str(berth_path())
    p = subprocess.run([b, "keys", "create", "--tenant", "t", "--role", "invoker", "--data-dir", str(data)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    key = p.stdout.strip().splitlines()[-1]
    p = subprocess.run([b, "tenants", "quota", "t", "--rows-per-second", str(rows_per_second), "--data-dir", str(data)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return data, key


def test_tenant_quotas_and_the_access_log_cover_generations(tmp_path):
    """A tenant's rows/s quota counts prompt tokens for the OpenAI routes (429 with Retry-After in
    OpenAI's error shape, nothing generated), and each generation is one access-log line with its
    tokens, as V2 requests are."""
    # A bucket of 40 prompt tokens per second: one short prompt passes, a burst of long ones does not.
    data, key = tenant_with_quota(tmp_path, 40)
    access = tmp_path / "access.jsonl"
    proc, base = serve_llama(tmp_path, "--data-dir", str(data), "--access-log", str(access))
    try:
        c = openai.OpenAI(base_url=base + "/v1", api_key=key, max_retries=0, timeout=60)
        first = c.completions.create(model="llama", prompt="Hello", max_tokens=3)
        used = first.usage.prompt_tokens + first.usage.completion_tokens
        long_prompt = "Hello world! " * 12
        with pytest.raises(openai.RateLimitError) as e:
            for _ in range(5):
                c.completions.create(model="llama", prompt=long_prompt, max_tokens=2)
        assert e.value.response.headers.get("retry-after") and "quota exceeded" in e.value.response.json()["error"]["message"]
        deadline = time.time() + 10
        lines = []
        while time.time() < deadline:
            lines = [json.loads(l) for l in access.read_text().splitlines()] if access.exists() else []
            if any(l.get("status") == 429 for l in lines):
                break
            time.sleep(0.2)
        mine = [l for l in lines if l["transport"] == "openai" and l["model"] == "llama"]
        assert mine and mine[0]["status"] == 200 and mine[0]["rows"] == used, mine
        assert any(l["status"] == 429 for l in mine), mine
    finally:
        berthpy.stop_process(proc)


def test_completion_tokens_count_against_the_rows_quota(tmp_path):
    """The rows/s quota counts completion tokens too: a generation admitted on its short prompt is
    charged its completion tokens when it ends, so the tenant's next request waits out the debt
    (429, Retry-After at least the debt over the rate) instead of getting a free long answer."""
    rate = 10.0
    data, key = tenant_with_quota(tmp_path, rate)
    proc, base = serve_llama(tmp_path, "--data-dir", str(data))
    try:
        c = openai.OpenAI(base_url=base + "/v1", api_key=key, max_retries=0, timeout=60)
        start = time.monotonic()
        first = c.completions.create(model="llama", prompt="Hi", max_tokens=60, extra_body={"ignore_eos": True})
        elapsed = time.monotonic() - start
        used = first.usage.prompt_tokens + first.usage.completion_tokens
        assert first.usage.completion_tokens == 60
        # The bucket held `rate` tokens, earned `rate` per second while the first ran, and lost `used`.
        debt = used - rate - rate * elapsed
        assert debt > 2 * rate, (used, elapsed)  # the check below needs a debt of seconds, not milliseconds
        with pytest.raises(openai.RateLimitError) as e:
            c.completions.create(model="llama", prompt="Hi", max_tokens=1)
        wait = float(e.value.response.headers["retry-after"])
        # Retry-After is rounded up to whole seconds; the debt shrinks while the refusal travels.
        assert wait >= debt / rate - 1.5, (wait, debt)
    finally:
        berthpy.stop_process(proc)


def test_generations_are_sampled_into_the_prediction_log(tmp_path):
    """With --prediction-log-sample 1, each generation is a logged record (prompt → text), exported
    by `berth monitor log` with the id the client was answered with; masking applies by name."""
    data = tmp_path / "data"
    proc, base = serve_llama(tmp_path, "--insecure-no-auth", "--data-dir", str(data), "--prediction-log-sample", "1")
    try:
        c = openai.OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0, timeout=60)
        whole = c.chat.completions.create(model="llama", messages=HELLO, max_tokens=5, temperature=0)
        streamed = "".join(ch.choices[0].text or "" for ch in
                           c.completions.create(model="llama", prompt="Once upon", max_tokens=4, temperature=0, stream=True) if ch.choices)
    finally:
        berthpy.stop_process(proc)  # the log's last batch is written at shutdown
    out = subprocess.run([str(berth_path()), "monitor", "log", "llama", "--format", "jsonl", "--data-dir", str(data)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    records = [json.loads(l) for l in out.stdout.splitlines()]
    assert [r["id"] for r in records][:1] == [whole.id] and len(records) == 2, records
    assert records[0]["outputs"][0]["data"] == [whole.choices[0].message.content]
    assert "Hello world!" in records[0]["inputs"][0]["data"][0]
    assert records[1]["outputs"][0]["data"] == [streamed] and records[1]["transport"] == "openai"


def test_bench_openai_counts_what_the_server_generated(server):
    """`berth bench --openai`: the output tokens it reports are the ones the server counted
    (berth_llm_generation_tokens_total), every request answered; an unknown model fails clearly."""
    def generated() -> float:
        text = urllib.request.urlopen(server + "/metrics", timeout=10).read().decode()
        return sum(v for labels, v in berthpy.prometheus_samples(text, "berth_llm_generation_tokens_total") if labels.get("model_name") == "llama")

    before = generated()
    out = subprocess.run([str(berth_path()), "bench", "--openai", "--url", server, "--model", "llama", "--concurrency", "1,3",
                          "--requests", "6", "--warmup", "0", "--max-tokens", "8", "--json"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    steps = json.loads(out.stdout)
    assert [(s["concurrency"], s["requests"], s["errors"]) for s in steps] == [(1, 6, 0), (3, 6, 0)]
    assert sum(s["output_tokens"] for s in steps) == generated() - before
    assert all(s["output_tokens"] > 0 and s["ttft_p50_ms"] > 0 and s["prompt_tokens"] > 0 for s in steps)
    bad = subprocess.run([str(berth_path()), "bench", "--openai", "--url", server, "--model", "nope", "--concurrency", "1",
                          "--requests", "2", "--warmup", "0"], capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "does not exist" in bad.stderr
