#!/usr/bin/env python3
"""Latency benchmark: Berth (`berth perf --json`) vs ONNX Runtime (in-process).

For each generated model (mlp, cnn, transformer from scripts/make_examples.py; resnet50 and
mobilenetv2 from bench/cnn_models.py; built into examples/generated/ if missing), batch in (1, 32) and threads in (1, 2):

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

REPO_ROOT = berthpy.REPO_ROOT
GEN_DIR = REPO_ROOT / "examples" / "generated"
PERCENTILE_METHOD = "nearest-rank"  # same as berth perf (LatencyStats)


log = berthpy.log
find_berth = berthpy.require_berth


def ensure_models(names: list[str]) -> dict[str, Path]:
    paths = {n: GEN_DIR / f"{n}.onnx" for n in names}
    missing = [n for n, p in paths.items() if not p.exists()
               or (n == "transformer" and not p.with_name(p.name + ".data").exists())]
    if missing:
        mk = berthpy.load_script("make_examples")
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import cnn_models  # noqa: E402  (resnet50, mobilenetv2)
        for n in missing:
            log(f"generating {paths[n]}")
            if n in cnn_models.BUILDERS:
                paths[n].parent.mkdir(parents=True, exist_ok=True)
                onnx.save(cnn_models.BUILDERS[n](), str(paths[n]))
            else:
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
    ap.add_argument("--models", default="mlp,cnn,transformer", help="also: resnet50, mobilenetv2, densenet121, vit_tiny (bench/cnn_models.py)")
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

    def ort_plan(p: berthpy.OrtVsBerthPoint) -> tuple[int, int]:
        n = args.iterations or berthpy.iterations_for_budget(args.budget, p.ort_est_ms, 5 if p.ort_est_ms < 1000 else 3, 500)
        return n, 1 if p.ort_est_ms > 200 else 3

    def berth_plan(p: berthpy.OrtVsBerthPoint) -> tuple[int, int]:
        est_ms = p.ort_est_ms * (max(p.last_ratio, 0.1) if p.last_ratio else 2.0)  # 2x ORT until measured
        n = args.iterations or berthpy.iterations_for_budget(args.budget, est_ms, 5 if est_ms < 1000 else 3, 500)
        return n, 1 if est_ms > 200 else 5

    t_start = time.perf_counter()
    rows, failed = berthpy.compare_with_ort(berth, paths, batches, threads_list,
                                            lambda name, path, batch: random_inputs(path, batch),
                                            ort_plan, berth_plan, estimate_runs=2, ms_decimals=3)
    elapsed = time.perf_counter() - t_start

    if args.json:
        print(json.dumps({"berth": str(berth), "onnxruntime": ort.__version__, "elapsed_s": elapsed,
                          "percentile_method": PERCENTILE_METHOD, "results": rows}, indent=2))
    else:
        print(berthpy.ort_comparison_table(rows, model_width=12, ms_decimals=3))
        print(f"(ms per run; ratio = berth p50 / ort p50, lower is better; onnxruntime {ort.__version__}; "
              f"total {elapsed:.0f} s; shared machine: compare ratios within one run only)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
