#!/usr/bin/env python3
"""Aggregate tokens/s of `berth serve --llm` against llama.cpp's own server (`llama-server -np N`,
N slots) on the same GGUF file, same threads, same client, same run (issue 17): `berth bench --openai`
sends streamed chat completions (greedy, max_tokens fixed) from C concurrent loops to each server in
turn and reports output tokens/s, time to first token and inter-token latency.

llama-server is not on PyPI as a binary. Build it once from the llama.cpp sources that the
llama-cpp-python sdist vendors (cmake and ninja from PyPI), with this machine's best kernels:
    pip download --no-deps --no-binary llama-cpp-python llama-cpp-python==0.3.36   # or fetch the sdist
    cd llama_cpp_python-0.3.36/vendor/llama.cpp
    cmake -B build -G Ninja -DGGML_NATIVE=ON -DLLAMA_CURL=OFF -DCMAKE_BUILD_TYPE=Release
    cmake --build build --target llama-server llama-bench
Then (release berth):
    .venv/bin/python bench/llm_server_vs_llamacpp.py --llama-server PATH/build/bin/llama-server
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "bench"))
import berthpy  # noqa: E402
from llm_vs_llamacpp import cpu_model, write_model  # noqa: E402


def wait(url: str, proc: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert proc.poll() is None, f"server exited with {proc.returncode}"
        try:
            if urllib.request.urlopen(url, timeout=2).status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(url)


def bench(berth: Path, base: str, model: str, concurrency: str, requests: int, max_tokens: int) -> list[dict]:
    out = subprocess.run([str(berth), "bench", "--openai", "--url", base, "--model", model, "--concurrency", concurrency,
                          "--requests", str(requests), "--max-tokens", str(max_tokens), "--json"],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--berth", default=None)
    ap.add_argument("--llama-server", required=True)
    ap.add_argument("--types", default="Q4_0,Q4_K")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--concurrency", default="1,8")
    ap.add_argument("--requests", type=int, default=16, help="completions per concurrency level")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds; the best of each kept")
    args = ap.parse_args()
    berth = berthpy.require_berth(args.berth)
    slots = max(int(c) for c in args.concurrency.split(","))
    print(f"# {cpu_model()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; threads {args.threads}, "
          f"{args.requests} completions of {args.max_tokens} tokens per level, best of {args.rounds} rounds")
    print(f"{'type':6} {'server':10} {'conc':>5} {'out tok/s':>10} {'TTFT p50 ms':>12} {'ITL p50 ms':>11} {'vs llama.cpp':>13}")
    with tempfile.TemporaryDirectory() as d:
        for name in args.types.split(","):
            gguf = Path(d) / f"bench_{name}.gguf"
            write_model(gguf, name)
            best: dict[tuple[str, int], dict] = {}
            for _ in range(args.rounds):
                for server in ("berth", "llama.cpp"):
                    port = berthpy.free_port()
                    if server == "berth":
                        cmd = [str(berth), "serve", "--insecure-no-auth", "--port", str(port), "--grpc-port", "0", "--log-level", "error",
                               "--threads", str(args.threads), "--llm", f"bench={gguf}", "--llm-kv-cache-mb", "512"]
                        ready = f"http://127.0.0.1:{port}/v1/models"
                    else:
                        cmd = [args.llama_server, "-m", str(gguf), "--port", str(port), "--host", "127.0.0.1", "-t", str(args.threads),
                               "-tb", str(args.threads), "-np", str(slots), "-c", str(2048 * slots), "--alias", "bench", "-fa", "off",
                               "-ctk", "f32", "-ctv", "f32", "--no-webui"]
                        ready = f"http://127.0.0.1:{port}/health"
                    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    try:
                        wait(ready, proc)
                        for r in bench(berth, f"http://127.0.0.1:{port}", "bench", args.concurrency, args.requests, args.max_tokens):
                            key = (server, r["concurrency"])
                            if key not in best or r["output_tokens_per_sec"] > best[key]["output_tokens_per_sec"]:
                                best[key] = r
                    finally:
                        berthpy.stop_process(proc)
            for conc in sorted({c for _, c in best}):
                for server in ("berth", "llama.cpp"):
                    r = best[(server, conc)]
                    ratio = r["output_tokens_per_sec"] / best[("llama.cpp", conc)]["output_tokens_per_sec"]
                    print(f"{name:6} {server:10} {conc:5d} {r['output_tokens_per_sec']:10.1f} {r['ttft_p50_ms']:12.1f} "
                          f"{r['itl_p50_ms']:11.2f} {ratio:12.2f}x", flush=True)


if __name__ == "__main__":
    main()
