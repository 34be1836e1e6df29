"""The fuzz harnesses' seed and regression corpora (Fuzz/corpus/, scripts/make_fuzz_corpus.py)
replayed through the parsers without the sanitizer build: every input is parsed or refused with an
error, never a crash. The seeds must also stay useful to the fuzzer: most are accepted.
scripts/fuzz.sh runs the real libFuzzer harnesses (CI: 60 s each)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import berth_path

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("harness", ["onnx", "v2-json", "binary-tensor"])
def test_corpus_replays_without_a_crash(harness):
    fuzz = berth_path().parent / "berth-fuzz"
    if not fuzz.exists():
        pytest.fail(f"{fuzz} is missing: scripts/test.sh builds it (swift build --product berth-fuzz)")
    corpus = ROOT / "Fuzz" / "corpus" / harness
    p = subprocess.run([str(fuzz), harness, str(corpus)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    lines = [line for line in p.stdout.splitlines() if ": accepted" in line or ": refused" in line]
    assert len(lines) == len(list(corpus.iterdir())) >= 3
    accepted = sum(": accepted" in line for line in lines)
    assert accepted >= len(lines) // 2, p.stdout
