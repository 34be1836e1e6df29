"""`POST /v1/embeddings` over a BERT-family ONNX encoder, driven by the official `openai` client.

The model and its WordPiece tokenizer.json come from scripts/make_bert_fixture.py (random weights,
2 layers). References: Hugging Face `tokenizers` for the token ids (exact), ONNX Runtime on the
same padded batch plus NumPy mean pooling over the attention mask and L2 normalisation for the
vectors (1e-5 absolute on unit-length vectors, float32 through two encoder layers).
"""
from __future__ import annotations

import base64
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
TOL = 1e-5
TEXTS = ["Hello, world!", "The quick brown fox jumps over the lazy dog.", "Café au lait",
         "Serving tokens and embedding text with Berth", "zzzz qqq ###", "a"]


@pytest.fixture(scope="module")
def fixture(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bert")
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_bert_fixture.py"), str(out)], check=True)
    return out


@pytest.fixture(scope="module")
def server(fixture, tmp_path_factory):
    repo = tmp_path_factory.mktemp("repo")
    (repo / "bert" / "1").mkdir(parents=True)
    (repo / "bert" / "1" / "model.onnx").write_bytes((fixture / "model.onnx").read_bytes())
    (repo / "bert" / "1" / "tokenizer.json").write_bytes((fixture / "tokenizer.json").read_bytes())
    (repo / "selfcontained" / "1").mkdir(parents=True)
    (repo / "selfcontained" / "1" / "model.onnx").write_bytes((fixture / "model_with_tokenizer.onnx").read_bytes())
    proc, base = berthpy.start_serve(berth_path(), ["--insecure-no-auth", "--model-repository", str(repo)],
                                     tmp_path_factory.mktemp("log") / "serve.log", ready="/v2/health/ready")
    yield base
    berthpy.stop_process(proc)


def reference(fixture: Path, texts: list[str], normalize: bool = True) -> tuple[np.ndarray, int]:
    tok = Tokenizer.from_file(str(fixture / "tokenizer.json"))
    enc = [tok.encode(t).ids for t in texts]
    n = max(len(e) for e in enc)
    ids = np.zeros((len(enc), n), np.int64)
    mask = np.zeros((len(enc), n), np.int64)
    for i, e in enumerate(enc):
        ids[i, :len(e)] = e
        mask[i, :len(e)] = 1
    sess = ort.InferenceSession(str(fixture / "model.onnx"), providers=["CPUExecutionProvider"])
    h = sess.run(["last_hidden_state"], {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})[0]
    m = mask[:, :, None].astype(np.float64)
    pooled = (h.astype(np.float64) * m).sum(1) / m.sum(1)
    if normalize:
        pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)
    return pooled, int(mask.sum())


def post(server: str, body: dict) -> tuple[int, dict]:
    req = urllib.request.Request(server + "/v1/embeddings", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.mark.parametrize("model", ["bert", "selfcontained"])
def test_openai_client_embeddings_equal_ort_mean_pooling(server, fixture, model):
    client = openai.OpenAI(base_url=server + "/v1", api_key="unused", max_retries=0)
    want, tokens = reference(fixture, TEXTS)
    r = client.embeddings.create(model=model, input=TEXTS)  # the client asks for base64 and decodes it
    got = np.array([d.embedding for d in sorted(r.data, key=lambda d: d.index)])
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=TOL, rtol=0)
    assert r.usage.prompt_tokens == tokens and r.usage.total_tokens == tokens
    one = client.embeddings.create(model=model, input=TEXTS[1], encoding_format="float")
    np.testing.assert_allclose(one.data[0].embedding, reference(fixture, [TEXTS[1]])[0][0], atol=TOL, rtol=0)


def test_float_and_base64_agree_and_unnormalised_pooling(server, fixture):
    s1, floats = post(server, {"model": "bert", "input": TEXTS[:3], "encoding_format": "float", "normalize": False})
    s2, b64 = post(server, {"model": "bert", "input": TEXTS[:3], "encoding_format": "base64", "normalize": False})
    assert s1 == s2 == 200 and floats["object"] == "list" and floats["data"][0]["object"] == "embedding"
    decoded = [np.frombuffer(base64.b64decode(d["embedding"]), "<f4") for d in b64["data"]]
    assert all(np.array_equal(np.float32(f["embedding"]), d) for f, d in zip(floats["data"], decoded))
    want, _ = reference(fixture, TEXTS[:3], normalize=False)
    np.testing.assert_allclose(np.array([d["embedding"] for d in floats["data"]]), want, atol=TOL * 10, rtol=TOL)
    # Token ids are taken as they are (no [CLS]/[SEP] added).
    tok = Tokenizer.from_file(str(fixture / "tokenizer.json"))
    ids = tok.encode(TEXTS[0]).ids
    s3, by_ids = post(server, {"model": "bert", "input": [ids], "encoding_format": "float", "normalize": False})
    assert s3 == 200
    np.testing.assert_allclose(by_ids["data"][0]["embedding"], want[0], atol=TOL * 10, rtol=TOL)


def test_tokenizer_truncates_like_tokenizers(server, fixture):
    long_text = " ".join(["the quick brown fox"] * 40)
    want, tokens = reference(fixture, [long_text])
    status, body = post(server, {"model": "bert", "input": long_text, "encoding_format": "float"})
    assert status == 200 and body["usage"]["prompt_tokens"] == tokens == 48
    np.testing.assert_allclose(body["data"][0]["embedding"], want[0], atol=TOL, rtol=0)


def test_errors_have_openai_shape(server):
    for body, code in (({"model": "nope", "input": "x"}, 404), ({"model": "bert", "input": []}, 400),
                       ({"model": "bert", "input": "x", "encoding_format": "int8"}, 400), ({"model": "bert"}, 400),
                       ({"model": "bert", "input": [[1, 10**9]]}, 400), ({"model": "bert", "input": [""]}, 400)):
        status, doc = post(server, body)
        assert status == code, (body, status, doc)
        assert set(doc["error"]) == {"message", "type", "param", "code"}, doc


def test_normalizer_and_pre_tokenizer_edge_cases_match_tokenizers(server, fixture):
    """Accents, CJK characters, control characters, unknown words and punctuation runs: the same
    token ids as Hugging Face `tokenizers` (seen through the embeddings and the token count)."""
    texts = ["Naïve CAFÉ résumé", "日本語 the 猫 cat", "tab\there\u0000null\u200bzero-width", "¿¡«quoted»!!...",
             "supercalifragilisticexpialidocious" * 4, "\u00a0non\u2003breaking  spaces\n\nlines"]
    want, tokens = reference(fixture, texts)
    status, body = post(server, {"model": "bert", "input": texts, "encoding_format": "float"})
    assert status == 200 and body["usage"]["prompt_tokens"] == tokens
    np.testing.assert_allclose(np.array([d["embedding"] for d in body["data"]]), want, atol=TOL, rtol=0)
