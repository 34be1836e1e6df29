"""`berth perf model.gguf`: prefill and decode tokens/s of a language model in process.

Speed is not asserted (tests never time anything); the command must run the forward pass for
the asked token counts and report them, and refuse counts over the context with exit 2.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

from conftest import berth_path

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "python" / "fixtures" / "gguf"


def test_perf_reports_prefill_and_decode_tokens_per_second():
    p = subprocess.run([str(berth_path()), "perf", str(FIXTURES / "llama_q8_q4.gguf"), "--json", "--prompt-tokens", "24",
                        "--decode-tokens", "8", "--runs", "2"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert r["prompt_tokens"] == 24 and r["decode_tokens"] == 8 and r["runs"] == 2
    assert r["prefill_tokens_per_s"] > 0 and r["decode_tokens_per_s"] > 0


def test_perf_refuses_more_tokens_than_the_context():
    p = subprocess.run([str(berth_path()), "perf", str(FIXTURES / "llama_q8_q4.gguf"), "--prompt-tokens", "100000"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "context" in p.stderr, p.stderr
