#!/usr/bin/env python3
"""Single-stream prefill and decode tokens/s of BerthGenerate vs llama.cpp on the same GGUF file,
same threads, same run (both in-process, no HTTP: berth-llm-bench and llama-cpp-python); plus
Berth's aggregate tokens/s with 8 concurrent streams through the continuous-batching engine.

The model is a random LLaMA-shaped GGUF written by scripts/make_gguf_fixtures.py's writer
(hidden 1024, 8 layers, GQA 16/4 heads, FFN 2816) in each weight type asked for. llama.cpp runs
through llama-cpp-python in its own venv (it compiles llama.cpp; see scripts/make_llama_reference.py):
  swift build -c release --product berth-llm-bench
  .venv/bin/python bench/llm_vs_llamacpp.py --llama-python /work/llama-venv/bin/python --threads 2
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import berthpy  # noqa: E402

LLAMA_CPP = r"""
import json, sys, time
import llama_cpp
from llama_cpp import Llama
path, threads, prompt_len, decode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
llm = Llama(model_path=path, n_ctx=1024, n_batch=512, n_threads=threads, n_threads_batch=threads, verbose=False,
            type_k=llama_cpp.GGML_TYPE_F32, type_v=llama_cpp.GGML_TYPE_F32, flash_attn=False)
prompt = [1] + [(7 * i) % 400 + 3 for i in range(prompt_len - 1)]
best_p, best_d = 1e9, 1e9
for _ in range(3):
    llm.reset()
    t = time.perf_counter(); llm.eval(prompt); tp = time.perf_counter() - t
    tok = 5
    t = time.perf_counter()
    for _ in range(decode):
        llm.eval([tok])
    td = time.perf_counter() - t
    best_p, best_d = min(best_p, tp), min(best_d, td)
print(json.dumps({"prefill_tps": prompt_len / best_p, "decode_tps": decode / best_d, "version": llama_cpp.__version__}))
"""


def model_types(spec, name: str) -> dict:
    """The tensor type of each matrix for a bench file named after a type ("Q4_0": every matrix
    in it) or "Q4_K_M": llama.cpp's usual mix, Q6_K for output, attn_v and ffn_down, Q4_K elsewhere."""
    if name == "Q4_K_M":
        return {k: spec.T.Q6_K if k in ("output", "v", "down") else spec.T.Q4_K
                for k in ("embd", "output", "q", "k", "v", "o", "gate", "up", "down")}
    return {k: getattr(spec.T, name) for k in ("embd", "output", "q", "k", "v", "o", "gate", "up", "down")}


def write_model(path: Path, name: str) -> None:
    spec = berthpy.load_script("make_gguf_fixtures")
    types = model_types(spec, name)
    spec.write_model(str(path), "llama", hidden=1024, layers=8, heads=16, kv_heads=4, ffn=2816, types=types,
                     tokenizer="llama", template=spec.MISTRAL, seed=11, context=2048)


def berth_numbers(bench: Path, model: Path, threads: int, prompt_len: int, decode: int) -> dict:
    out = subprocess.run([str(bench), str(model), str(threads), str(prompt_len), str(decode)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--llama-python", default="/work/llama-venv/bin/python")
    ap.add_argument("--bench-bin", default=str(ROOT / ".build" / "release" / "berth-llm-bench"),
                    help="swift build -c release --product berth-llm-bench")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prompt", type=int, default=256)
    ap.add_argument("--decode", type=int, default=32)
    ap.add_argument("--types", default="Q4_0,Q8_0,Q4_K")
    args = ap.parse_args()
    berth = Path(args.bench_bin)
    print(f"CPU: {cpu_model()}, threads {args.threads}, prompt {args.prompt} tokens, decode {args.decode} tokens")
    print(f"{'type':6} {'prefill tok/s berth':>20} {'llama.cpp':>10} {'ratio':>6} {'decode tok/s berth':>19} {'llama.cpp':>10} {'ratio':>6} {'8 streams berth':>16} {'TTFT cold ms':>13} {'TTFT 7/8 cached ms':>19}")
    with tempfile.TemporaryDirectory() as d:
        for name in args.types.split(","):
            model = Path(d) / f"bench_{name}.gguf"
            write_model(model, name)
            ref = json.loads(subprocess.run([args.llama_python, "-c", LLAMA_CPP, str(model), str(args.threads), str(args.prompt), str(args.decode)],
                                            check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
            b = berth_numbers(berth, model, args.threads, args.prompt, args.decode)
            print(f"{name:6} {b['prefill_tps']:20.1f} {ref['prefill_tps']:10.1f} {b['prefill_tps'] / ref['prefill_tps']:6.2f} "
                  f"{b['decode_tps']:19.1f} {ref['decode_tps']:10.1f} {b['decode_tps'] / ref['decode_tps']:6.2f} {b['aggregate8_tps']:16.1f} "
                  f"{b['ttft_cold_s'] * 1000:13.1f} {b['ttft_prefix_cached_s'] * 1000:19.1f}",
                  flush=True)


if __name__ == "__main__":
    main()
