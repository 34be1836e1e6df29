#!/usr/bin/env python3
"""int8 vs fp32, Berth vs ONNX Runtime, in one run (issue 15).

For each model (the digits MLP, the generated bench MLP, the 4-layer BERT-mini-sized transformer and
CNN of scripts/make_examples.py, and the residual digits CNN of scripts/make_digits_cnn.py):
quantize it with `berth quantize --mode dynamic` and with ORT's quantize_dynamic, then time at batch
1 and 32 (1 thread): Berth fp32 and int8 (`berth perf --json`, on Berth's int8 file), Berth on ORT's
int8 file, and ORT fp32 and int8 (in-process, on ORT's int8 file). The machine is shared, so each
row's runs are interleaved (`--rounds` rounds, the best p50 of each kept); ratios are the signal.

    .venv/bin/python bench/quantize_vs_ort.py [--berth PATH] [--iterations N] [--rounds R] [--models a,b]
                                              [--dnnl-isa AVX2]

`--dnnl-isa` caps oneDNN's instruction set for Berth (ONEDNN_MAX_CPU_ISA, e.g. AVX2: no VNNI, as on
a CPU without it: Berth's int8 runs on oneDNN only for weights within ±64, else on its exact portable
path); ORT's MLAS is not capped. `--reduce-range` writes 7-bit weights in both files (`berth quantize
--reduce-range`, ORT's `reduce_range=True`), what a CPU without VNNI needs.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from onnxruntime.quantization import QuantType, quantize_dynamic

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import berthpy  # noqa: E402


BERTH_ENV = dict(os.environ)


def berth_p50(berth: str, model: Path, batch: int, iterations: int) -> float:
    out = subprocess.run([berth, "perf", str(model), "--batch", str(batch), "--threads", "1", "--iterations", str(iterations),
                          "--warmup", "5", "--json"], capture_output=True, text=True, check=True, env=BERTH_ENV).stdout
    return json.loads(out)["p50_ms"]


def ort_p50(model: Path, batch: int, iterations: int) -> float:
    o = ort.SessionOptions()
    o.intra_op_num_threads = 1
    o.inter_op_num_threads = 1
    s = ort.InferenceSession(str(model), o, providers=["CPUExecutionProvider"])
    feeds = {}
    for i in s.get_inputs():
        shape = [batch if not isinstance(d, int) else d for d in i.shape]
        feeds[i.name] = (np.random.default_rng(0).integers(0, 10, shape) if "int" in i.type
                         else np.random.default_rng(0).standard_normal(shape).astype(np.float32))
    for _ in range(5):
        s.run(None, feeds)
    t = []
    for _ in range(iterations):
        t0 = time.perf_counter()
        s.run(None, feeds)
        t.append((time.perf_counter() - t0) * 1000)
    return float(np.percentile(t, 50))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--berth", default=None)
    ap.add_argument("--iterations", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--models", default="digits_mlp,mlp,bert_mini,cnn,digits_cnn")
    ap.add_argument("--dnnl-isa", default=None, help="ONEDNN_MAX_CPU_ISA for Berth (e.g. AVX2)")
    ap.add_argument("--reduce-range", action="store_true", help="7-bit weights in both int8 files (for CPUs without VNNI)")
    args = ap.parse_args()
    if args.dnnl_isa:
        BERTH_ENV["ONEDNN_MAX_CPU_ISA"] = args.dnnl_isa
    berth = str(berthpy.require_berth(args.berth))
    import onnx
    gen = ROOT / "examples" / "generated"
    gen.mkdir(parents=True, exist_ok=True)
    make = berthpy.load_script("make_examples")
    builders = {"mlp": make.make_mlp_model, "bert_mini": make.make_transformer_model, "cnn": make.make_cnn_model}
    for name, build in builders.items():
        if not (gen / f"{name}.onnx").exists():
            onnx.save(build(), str(gen / f"{name}.onnx"))
    known = {"digits_mlp": ROOT / "examples" / "digits_mlp.onnx", "digits_cnn": ROOT / "examples" / "digits_cnn.onnx",
             **{name: gen / f"{name}.onnx" for name in builders}}
    models = {name: known[name] for name in args.models.split(",")}
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
    flags = next((l for l in open("/proc/cpuinfo") if l.startswith("flags")), "")
    isa = ",".join(f for f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni") if f" {f}" in flags)
    capped = f", Berth's oneDNN capped at {args.dnnl_isa}" if args.dnnl_isa else ""
    capped += ", --reduce-range (7-bit weights)" if args.reduce_range else ""
    print(f"# {cpu} ({isa}), load {os.getloadavg()[0]:.1f}, berth {berth}, onnxruntime {ort.__version__}, 1 thread, p50 ms{capped}")
    print(f"{'model':12} {'batch':>5} {'berth fp32':>11} {'berth int8':>11} {'berth ort-i8':>12} {'ort fp32':>9} {'ort int8':>9} "
          f"{'berth i8/fp32':>14} {'berth/ort int8':>15}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, path in models.items():
            bq, oq = Path(tmp) / f"{name}_berth.onnx", Path(tmp) / f"{name}_ort.onnx"
            subprocess.run([berth, "quantize", str(path), str(bq), "--iterations", "0"] + (["--reduce-range"] if args.reduce_range else []),
                           check=True, capture_output=True)
            quantize_dynamic(str(path), str(oq), weight_type=QuantType.QInt8, reduce_range=args.reduce_range)
            for batch in (1, 32):
                best = [float("inf")] * 5
                for _ in range(args.rounds):  # interleaved: each round runs every setup once
                    t = [berth_p50(berth, path, batch, args.iterations), berth_p50(berth, bq, batch, args.iterations),
                         berth_p50(berth, oq, batch, args.iterations), ort_p50(path, batch, args.iterations),
                         ort_p50(oq, batch, args.iterations)]
                    best = [min(a, b) for a, b in zip(best, t)]
                bf, bi, bo, of, oi = best
                print(f"{name:12} {batch:5d} {bf:11.3f} {bi:11.3f} {bo:12.3f} {of:9.3f} {oi:9.3f} {bf / bi:14.2f}x {bi / oi:14.2f}x",
                      flush=True)
    print(f"# load at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
