#!/usr/bin/env python3
"""Latency benchmark: Berth (`berth perf --json`) vs ONNX Runtime (in-process).

For each generated model (mlp, cnn, transformer from scripts/make_examples.py,
built into examples/generated/ if missing), batch in (1, 32) and threads in (1, 2):

  * Berth:  `berth perf MODEL --batch B --threads T --iterations N --warmup W --json`
            (random inputs built by berth from the model metadata).
  * ORT:    InferenceSession(CPUExecutionProvider, intra_op_num_threads=T,
            inter_op_num_threads=1, ORT_SEQUENTIAL, ORT_ENABLE_ALL), random inputs
            of the same shapes/dtypes (float: standard normal; token ids: uniform
            in [0, vocab)); W warm-up runs, then N timed runs of sess.run().
  * Percentiles: nearest-rank (sorted[ceil(p/100*N)-1]) over the N per-run wall
    times in ms, as berth perf computes them; throughput = batch / mean seconds.

Iterations adapt per model/batch so the default run stays under ~3 minutes:
N = clamp(budget / estimated per-run time, 5 (3 if >1 s/run), 500), estimated from ORT's warm-up
and the Berth/ORT ratio seen so far for that model. --iterations N fixes N.

NOTE: the benchmark machine is shared and noisy. Absolute milliseconds are not
comparable across runs; only the Berth/ORT ratios from the SAME run count.
Use a release build of berth (a debug build is reported but meaningless).

Usage:
  python bench/engine_vs_ort.py [--berth PATH] [--iterations N] [--json]
                                [--models mlp,cnn,transformer] [--batches 1,32]
                                [--threads 1,2] [--budget SECONDS]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import berthpy  # noqa: E402
from berthpy import OrtTimer as OrtRunner, latency_stats as stats, run_berth_perf  # noqa: E402

REPO_ROOT = berthpy.REPO_ROOT
GEN_DIR = REPO_ROOT / "examples" / "generated"
PERCENTILE_METHOD = "nearest-rank"  # same as berth perf (LatencyStats)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def find_berth(explicit: str | None) -> Path:
    p = berthpy.find_berth(explicit)
    if p is None:
        sys.exit("berth binary not found: pass --berth PATH, set BERTH_BIN, or `swift build -c release --product berth`")
    return p


def ensure_models(names: list[str]) -> dict[str, Path]:
    paths = {n: GEN_DIR / f"{n}.onnx" for n in names}
    missing = [n for n, p in paths.items() if not p.exists()
               or (n == "transformer" and not p.with_name(p.name + ".data").exists())]
    if missing:
        mk = berthpy.load_script("make_examples")
        for n in missing:
            log(f"generating {paths[n]}")
            mk.GENERATED[n](paths[n])
    return paths


def random_inputs(model_path: Path, batch: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Random feeds from graph input metadata; the first symbolic dim is the batch, others error."""
    m = onnx.load(str(model_path), load_external_data=False)
    inits = {i.name for i in m.graph.initializer}
    rng = np.random.default_rng(seed)
    feeds = {}
    for vi in m.graph.input:
        if vi.name in inits:
            continue
        tt = vi.type.tensor_type
        shape, used_batch = [], False
        for d in tt.shape.dim:
            if d.HasField("dim_value"):
                shape.append(d.dim_value)
            elif not used_batch:
                shape.append(batch)
                used_batch = True
            else:
                raise ValueError(f"{model_path.name}: input {vi.name} has a second symbolic dim")
        dtype = onnx.helper.tensor_dtype_to_np_dtype(tt.elem_type)
        if np.issubdtype(dtype, np.integer):
            # token ids: keep in-vocab (vocab = rows of the first Gather's data initializer)
            vocab = 1000
            for n in m.graph.node:
                if n.op_type == "Gather" and n.input[1] == vi.name:
                    for i in m.graph.initializer:
                        if i.name == n.input[0]:
                            vocab = i.dims[0]
            feeds[vi.name] = rng.integers(0, vocab, shape).astype(dtype)
        else:
            feeds[vi.name] = rng.standard_normal(shape).astype(dtype)
    return feeds


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--berth", help="berth binary (default: $BERTH_BIN, .build/release/berth, .build/debug/berth)")
    ap.add_argument("--iterations", type=int, help="timed iterations for every config (default: adaptive)")
    ap.add_argument("--json", action="store_true", help="print results as a JSON array instead of a table")
    ap.add_argument("--models", default="mlp,cnn,transformer")
    ap.add_argument("--batches", default="1,32")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--budget", type=float, default=4.0,
                    help="adaptive mode: target seconds of timed runs per engine per config (default: %(default)s)")
    args = ap.parse_args(argv)

    berth = find_berth(args.berth)
    if not (berth.is_file() and os.access(berth, os.X_OK)):
        sys.exit(f"berth binary {berth} is not an executable file")
    if "debug" in berth.parts:
        log(f"WARNING: {berth} is a debug build; timings are not representative")
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    batches = [int(b) for b in args.batches.split(",")]
    threads_list = [int(t) for t in args.threads.split(",")]
    paths = ensure_models(models)

    rows, failed = [], False
    t_start = time.perf_counter()
    for name in models:
        ratio_est = 2.0  # assumed berth/ort per-run time until measured
        for batch in batches:
            feeds = random_inputs(paths[name], batch)
            for threads in threads_list:
                runner = OrtRunner(paths[name], threads)
                # warm-up (also the per-run time estimate)
                warm = [runner.time_once(feeds) for _ in range(2)]
                est_ms = max(min(warm), 1e-3)
                if args.iterations:
                    n_ort = n_berth = args.iterations
                else:
                    n_ort = int(np.clip(args.budget * 1000.0 / est_ms, 5 if est_ms < 1000 else 3, 500))
                    est_b = est_ms * ratio_est
                    n_berth = int(np.clip(args.budget * 1000.0 / est_b, 5 if est_b < 1000 else 3, 500))
                extra_warm = 1 if est_ms > 200 else 3
                for _ in range(extra_warm):
                    runner.time_once(feeds)
                o = stats([runner.time_once(feeds) for _ in range(n_ort)], batch)
                del runner
                row = {"model": name, "batch": batch, "threads": threads, "ort": o}
                warmup_b = 1 if est_ms * ratio_est > 200 else 5
                try:
                    b = run_berth_perf(berth, paths[name], batch, threads, n_berth, warmup_b)
                    row["berth"] = b
                    row["ratio_p50"] = b["p50_ms"] / o["p50_ms"] if o["p50_ms"] > 0 else None
                    if row["ratio_p50"]:
                        ratio_est = max(row["ratio_p50"], 0.1)
                except Exception as e:  # keep going; report at the end
                    failed = True
                    row["berth"] = None
                    row["ratio_p50"] = None
                    row["error"] = str(e)
                    log(f"berth perf failed for {name} batch {batch} threads {threads}: {e}")
                rows.append(row)
                log(f"{name:12s} b={batch:<3d} t={threads}  ort p50 {o['p50_ms']:.3f} ms (n={n_ort})  "
                    + (f"berth p50 {row['berth']['p50_ms']:.3f} ms (n={n_berth})  ratio {row['ratio_p50']:.2f}"
                       if row["berth"] else "berth ERROR"))
    elapsed = time.perf_counter() - t_start

    if args.json:
        print(json.dumps({"berth": str(berth), "onnxruntime": ort.__version__, "elapsed_s": elapsed,
                          "percentile_method": PERCENTILE_METHOD, "results": rows}, indent=2))
    else:
        hdr = f"{'model':<12} {'batch':>5} {'thr':>3} {'berth p50':>10} {'berth p99':>10} {'ort p50':>10} {'ort p99':>10} {'ratio p50':>9}"
        print(hdr)
        print("-" * len(hdr))
        for r in rows:
            b = r["berth"]
            bp50 = f"{b['p50_ms']:10.3f}" if b else f"{'ERR':>10}"
            bp99 = f"{b['p99_ms']:10.3f}" if b else f"{'ERR':>10}"
            ratio = f"{r['ratio_p50']:9.2f}" if r["ratio_p50"] else f"{'-':>9}"
            print(f"{r['model']:<12} {r['batch']:>5} {r['threads']:>3} {bp50} {bp99} "
                  f"{r['ort']['p50_ms']:10.3f} {r['ort']['p99_ms']:10.3f} {ratio}")
        print(f"(ms per run; ratio = berth p50 / ort p50, lower is better; onnxruntime {ort.__version__}; "
              f"total {elapsed:.0f} s; shared machine: compare ratios within one run only)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
