"""Language models as registry versions: `berth registry push chat model.gguf`, served by
`berth serve --registry` on the OpenAI routes with production, canary and promote / rollback.

Versions: v1 is scripts/make_gguf_fixtures.py's llama_q8_q4 model written again with a 4,096-token
context (same seed, same weights, so llama.cpp's recorded greedy tokens still apply), v2 is
llama_float.gguf; both have committed llama.cpp references (fixtures/gguf/*.reference.json), so
every answer can be attributed to the version that gave it.
"""
from __future__ import annotations

import importlib.util
import json
import re
import sys
import time
from pathlib import Path

import gguf
import openai
import pytest

from test_registry_server import Server, cli

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "python" / "fixtures" / "gguf"
NAME = "chat"


def fixture_writer():
    spec = importlib.util.spec_from_file_location("make_gguf_fixtures", ROOT / "scripts" / "make_gguf_fixtures.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def versions(tmp_path_factory) -> dict[int, Path]:
    """v1: llama_q8_q4 with a 4,096-token context; v2: llama_float."""
    out = tmp_path_factory.mktemp("gguf")
    m = fixture_writer()
    T = m.T
    m.write_model(str(out / "long.gguf"), "llama", hidden=128, layers=2, heads=4, kv_heads=1, ffn=256,
                  types=dict(embd=T.Q8_0, output=T.Q8_0, q=T.Q4_0, k=T.Q4_1, v=T.Q8_0, o=T.Q4_0, gate=T.Q4_1, up=T.Q8_0, down=T.Q4_0),
                  tokenizer="llama", template=m.MISTRAL, seed=2, context=4096)
    return {1: out / "long.gguf", 2: FIXTURES / "llama_float.gguf"}


def reference(version: int) -> dict:
    name = "llama_q8_q4" if version == 1 else "llama_float"
    return json.loads((FIXTURES / f"{name}.reference.json").read_text())


def client(server: Server) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"http://127.0.0.1:{server.port}/v1", api_key="unused", max_retries=0, timeout=120)


def greedy(c: openai.OpenAI, model: str, n: int = 32, **kw) -> str:
    """The greedy continuation of the reference prompt (both references use the same prompt tokens)."""
    r = c.completions.create(model=model, prompt=reference(1)["prompt_tokens"], max_tokens=n, temperature=0,
                             extra_body={"ignore_eos": True}, **kw)
    return r.choices[0].text


def setup_registry(tmp_path: Path, versions: dict[int, Path], aliases: dict[str, int]) -> Path:
    data = tmp_path / "data"
    for k in sorted(versions):
        cli(data, "push", NAME, str(versions[k]))
    for alias, v in aliases.items():
        cli(data, "alias", NAME, alias, str(v))
    return data


def test_push_records_the_gguf_signature(tmp_path, versions):
    data = setup_registry(tmp_path, versions, {})
    shown = cli(data, "show", f"{NAME}@1")
    r = gguf.GGUFReader(str(versions[1]))
    params = sum(int(t.n_elements) for t in r.tensors)
    assert re.search(rf"llm: +llama, {params} parameters, context 4096, vocabulary \d+, ", shown), shown
    kinds = re.search(r"llm: .*, ([A-Z0-9_/]+)\n", shown).group(1).split("/")
    assert set(kinds) == {t.tensor_type.name for t in r.tensors}, kinds
    # Every tensor type, most bytes first.
    by_type: dict[str, int] = {}
    for t in r.tensors:
        by_type[t.tensor_type.name] = by_type.get(t.tensor_type.name, 0) + int(t.n_bytes)
    assert kinds == sorted(by_type, key=lambda k: (-by_type[k], k)), (kinds, by_type)
    # A GGUF of an architecture Berth cannot run is refused at push, with the reason.
    bad = tmp_path / "bad.gguf"
    w = gguf.GGUFWriter(str(bad), "mamba")
    w.add_context_length(16)
    w.add_tensor("x", __import__("numpy").zeros(4, "float32"))
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
    import subprocess
    from conftest import berth_path
    p = subprocess.run([str(berth_path()), "registry", "push", NAME, str(bad), "--data-dir", str(data)], capture_output=True, text=True)
    assert p.returncode == 2 and "not a valid GGUF model" in p.stderr and "mamba" in p.stderr, p.stderr
    # An LLM version after an ONNX one (or the reverse) changes the signature: refused unless allowed.
    from test_registry_cli import model_bytes
    (tmp_path / "m.onnx").write_bytes(model_bytes(1))
    p = subprocess.run([str(berth_path()), "registry", "push", NAME, str(tmp_path / "m.onnx"), "--data-dir", str(data)],
                       capture_output=True, text=True)
    assert p.returncode != 0 and "signature differs" in p.stderr, p.stderr


def test_promote_mid_stream_keeps_every_token_then_rollback(tmp_path, versions, monkeypatch):
    data = setup_registry(tmp_path, versions, {"production": 1})
    # Paced at 1 ms a step, the 3,000-token stream outlasts v2's load however fast decoding gets.
    monkeypatch.setenv("BERTH_LLM_STEP_DELAY_MS", "1")
    server = Server(data, tmp_path / "server.log", "--llm-kv-cache-mb", "8")
    try:
        c = client(server)
        assert [m.id for m in c.models.list().data] == [NAME]
        # Both versions give llama.cpp's greedy tokens; v1 from production, v2 by NAME@2 once aliased.
        assert greedy(c, NAME) == reference(1)["detokenize"]
        n = 3000
        whole = greedy(c, NAME, n)
        assert whole.startswith(reference(1)["detokenize"])

        stream = c.completions.create(model=NAME, prompt=reference(1)["prompt_tokens"], max_tokens=n, temperature=0,
                                      stream=True, stream_options={"include_usage": True}, extra_body={"ignore_eos": True})
        chunks = iter(stream)
        first = next(chunks)
        server.api("POST", f"/models/{NAME}/promote", {"version": 2})
        # New requests are answered by v2 while the stream still runs on v1.
        assert greedy(c, NAME) == reference(2)["detokenize"]
        assert greedy(c, f"{NAME}@production") == reference(2)["detokenize"]
        rest = list(chunks)
        text = first.choices[0].text + "".join(ch.choices[0].text for ch in rest if ch.choices)
        reasons = [ch.choices[0].finish_reason for ch in rest if ch.choices and ch.choices[0].finish_reason]
        assert rest[-1].usage.completion_tokens == n and reasons == ["length"]
        assert text == whole, "the stream that started on v1 lost or changed tokens across the promote"
        log = server.log_path.read_text(errors="replace")
        draining = [l for l in log.splitlines() if "language model version draining" in l and "version=1" in l.replace('"', "")]
        assert draining and re.search(r"requests=\D?([1-9])", draining[0].replace('"', "")), (
            "v1 was not holding the stream when it left service", draining)
        deadline = time.time() + 10
        while "language model version released" not in server.log_path.read_text(errors="replace") and time.time() < deadline:
            time.sleep(0.1)
        assert "language model version released" in server.log_path.read_text(errors="replace")

        server.api("POST", f"/models/{NAME}/rollback", {})
        assert greedy(c, NAME) == reference(1)["detokenize"]
    finally:
        server.stop()


def test_canary_split_is_sticky_and_versions_are_addressable(tmp_path, versions):
    data = setup_registry(tmp_path, versions, {"production": 1, "candidate": 2})
    server = Server(data, tmp_path / "server.log")
    try:
        c = client(server)
        answers = {reference(v)["detokenize"]: v for v in (1, 2)}
        assert answers[greedy(c, f"{NAME}@2")] == 2
        assert answers[greedy(c, f"{NAME}@candidate")] == 2
        assert answers[greedy(c, f"{NAME}@1")] == 1
        with pytest.raises(openai.NotFoundError):
            greedy(c, f"{NAME}@7")
        server.api("PUT", f"/models/{NAME}/traffic", {"canary": {"alias": "candidate", "percent": 50}})
        by_key: dict[str, set[int]] = {}
        for k in range(24):
            for _ in range(2):
                v = answers[greedy(c, NAME, extra_headers={"x-berth-routing-key": f"user-{k}"})]
                by_key.setdefault(f"user-{k}", set()).add(v)
        assert all(len(vs) == 1 for vs in by_key.values()), by_key
        seen = {next(iter(vs)) for vs in by_key.values()}
        assert seen == {1, 2}, by_key
        import berthpy
        routed = {(s[0]["version"], s[0]["route"]): s[1]
                  for s in berthpy.prometheus_samples(server.metrics(), "berth_llm_routed_requests_total")}
        assert routed[("1", "production")] + routed[("2", "canary")] == 48, routed
        assert routed[("2", "version")] == 2 and routed[("1", "version")] == 1, routed

        # A shadow answers nothing but is compared: v2's greedy text differs from v1's, v1's own equals it.
        server.api("PUT", f"/models/{NAME}/traffic", {"canary": None, "shadow": {"alias": "candidate", "percent": 100}})
        for _ in range(3):
            assert answers[greedy(c, NAME)] == 1
        cli(data, "alias", NAME, "candidate", "1")
        server.api("PUT", f"/models/{NAME}/traffic", {"shadow": {"alias": "candidate", "percent": 100}})
        for _ in range(2):
            assert answers[greedy(c, NAME)] == 1
        deadline, counts = time.time() + 20, {}
        while time.time() < deadline:
            counts = {(s[0]["version"], s[0]["outcome"]): s[1]
                      for s in berthpy.prometheus_samples(server.metrics(), "berth_llm_shadow_requests_total")}
            if counts.get(("2", "disagree"), 0) == 3 and counts.get(("1", "agree"), 0) == 2:
                break
            time.sleep(0.2)
        assert counts == {("2", "disagree"): 3, ("1", "agree"): 2}, counts
    finally:
        server.stop()


def test_several_llms_within_the_memory_budget(tmp_path, versions):
    data = setup_registry(tmp_path, versions, {"production": 1})
    # Each version takes its file + 1 MiB of KV cache: chat v1 ~1.3 MiB, other ~1.25 MiB, chat v2 ~1.4 MiB.
    server = Server(data, tmp_path / "server.log", "--llm-kv-cache-mb", "1", "--llm-memory-budget", "3")
    try:
        c = client(server)
        assert greedy(c, NAME) == reference(1)["detokenize"]
        # Pushed through the admin API this time (the same recognition as the CLI's push).
        pushed = server.api("POST", "/models/other/versions", (FIXTURES / "qwen2_q8.gguf").read_bytes(), want=201,
                            headers={"Content-Type": "application/octet-stream"})
        assert pushed["signature"]["llm"]["architecture"] == "qwen2", pushed
        server.api("PUT", "/models/other/aliases/production", {"version": 1})
        assert sorted(m.id for m in c.models.list().data) == [NAME, "other"]
        assert c.chat.completions.create(model="other", messages=[{"role": "user", "content": "Hi"}], max_tokens=4).usage.completion_tokens >= 1
        # Loading chat v2 beside v1 and other would exceed 3 MiB: refused, v1 keeps serving.
        err = server.api("POST", f"/models/{NAME}/promote", {"version": 2}, want=400)
        assert "--llm-memory-budget" in err["error"], err
        assert greedy(c, NAME) == reference(1)["detokenize"], "the serving version must stay"
        assert "production" in cli(data, "show", f"{NAME}@1")
        # With other gone there is room: the promote goes through.
        server.api("DELETE", "/models/other/aliases/production")
        deadline = time.time() + 10  # other's version is released once drained, in the background
        while server.request("POST", f"/api/v1/models/{NAME}/promote", {"version": 2})[0] != 200:
            assert time.time() < deadline, server.log()
            time.sleep(0.1)
        assert greedy(c, NAME) == reference(2)["detokenize"]
        assert [m.id for m in c.models.list().data] == [NAME]
    finally:
        server.stop()
