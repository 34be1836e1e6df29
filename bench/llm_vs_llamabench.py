#!/usr/bin/env python3
"""Single-stream prefill and decode tokens/s of BerthGenerate vs llama.cpp's own `llama-bench`,
same GGUF file, same threads, interleaved rounds, at matched context depths:

  prefill  256 prompt tokens from an empty cache       (llama-bench -p 256 -n 0)
  decode   32 tokens after a 1-token prompt (depth 0)  (llama-bench -p 0 -n 32 -d 0)
  decode   32 tokens after a 256-token prompt          (llama-bench -p 0 -n 32 -d 256)

llama-bench's `tg` test starts from an empty cache unless `-d` is given, while Berth's decode
figure follows its prompt; comparing the two without matching depths favours whichever side
decodes from the shorter context. llama.cpp runs with its defaults (F16 KV cache, flash
attention auto); Berth keeps an F32 KV cache.

llama-bench is built from the llama.cpp that llama-cpp-python vendors, for this CPU
(bench/llm_server_vs_llamacpp.py's docstring says how), and berth-llm-bench with
  swift build -c release --product berth-llm-bench
Models are the random LLaMA-shaped GGUF files bench/llm_vs_llamacpp.py writes
(hidden 1024, 8 layers, GQA 16/4 heads, FFN 2816); give their folder with --models (files
bench_Q4_0.gguf, ...) or let this script write them.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "scripts"))
from llm_vs_llamacpp import cpu_model, write_model  # noqa: E402
import berthpy  # noqa: E402


def berth(bench: str, model: Path, threads: int, prompt: int, decode: int) -> dict:
    env = dict(os.environ, BERTH_LLM_BENCH_SINGLE="1")
    out = subprocess.run([bench, str(model), str(threads), str(prompt), str(decode)], check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def llama(binary: str, model: Path, threads: int, *test: str) -> float:
    out = subprocess.run([binary, "-m", str(model), "-t", str(threads), "-r", "3", "-o", "json", *test],
                         check=True, capture_output=True, text=True)
    r = json.loads(out.stdout)[0]
    # The best of its runs, as berth-llm-bench reports its best of three.
    return float(max(r.get("samples_ts") or [r["avg_ts"]]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--llama-bench", required=True, help="llama-bench built for this CPU")
    ap.add_argument("--bench-bin", default=str(ROOT / ".build" / "release" / "berth-llm-bench"))
    ap.add_argument("--models", help="folder with bench_TYPE.gguf files (written when absent)")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--types", default="Q4_0,Q8_0,Q4_K")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    load = os.getloadavg()[0]
    print(f"CPU: {cpu_model()}; load average at start {load:.1f}; best of 3 runs per call (both tools), median over {args.rounds} interleaved rounds")
    print(f"{'thr':>3} {'type':5} | {'prefill berth':>13} {'llama':>7} {'ratio':>5} | {'decode@0 berth':>14} {'llama':>7} {'ratio':>5} | "
          f"{'decode@256 berth':>16} {'llama':>7} {'ratio':>5}")
    with tempfile.TemporaryDirectory() as d:
        folder = Path(args.models) if args.models else Path(d)
        for threads in [int(t) for t in args.threads.split(",")]:
            for name in args.types.split(","):
                model = folder / f"bench_{name}.gguf"
                if not model.exists():
                    write_model(model, name)
                rows: dict[str, list[float]] = {k: [] for k in ("bp", "lp", "b0", "l0", "b256", "l256")}
                for _ in range(args.rounds):
                    long = berth(args.bench_bin, model, threads, 256, 32)
                    rows["bp"].append(long["prefill_tps"]); rows["b256"].append(long["decode_tps"])
                    rows["b0"].append(berth(args.bench_bin, model, threads, 1, 32)["decode_tps"])
                    rows["lp"].append(llama(args.llama_bench, model, threads, "-p", "256", "-n", "0"))
                    rows["l0"].append(llama(args.llama_bench, model, threads, "-p", "0", "-n", "32"))
                    rows["l256"].append(llama(args.llama_bench, model, threads, "-p", "0", "-n", "32", "-d", "256"))
                m = {k: statistics.median(v) for k, v in rows.items()}
                print(f"{threads:3} {name:5} | {m['bp']:13.0f} {m['lp']:7.0f} {m['bp'] / m['lp']:5.2f} | {m['b0']:14.0f} {m['l0']:7.0f} "
                      f"{m['b0'] / m['l0']:5.2f} | {m['b256']:16.0f} {m['l256']:7.0f} {m['b256'] / m['l256']:5.2f}", flush=True)
    print(f"load average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
