#!/usr/bin/env python3
"""Latency benchmark for classic-ML models: Berth (`berth perf --json`) vs ONNX Runtime (in-process).

Models (scikit-learn -> skl2onnx, zipmap off; trained on make_classification, 3 classes,
20 features, 2,000 rows, fixed seeds; written to examples/generated/ml_bench/ if missing):

  rf       RandomForestClassifier(n_estimators=100, max_depth=8)  -> ai.onnx.ml TreeEnsembleClassifier
  svc_rbf  SVC(kernel="rbf", probability=True)                    -> ai.onnx.ml SVMClassifier (+ Cast)

For each model, batch in (1, 1000) and threads in (1,):

  * Berth:  `berth perf MODEL --batch B --threads T --iterations N --warmup W --json`
            (its own random inputs: uniform in [-1, 1)).
  * ORT:    InferenceSession(CPUExecutionProvider, intra_op_num_threads=T, inter_op_num_threads=1,
            ORT_SEQUENTIAL, ORT_ENABLE_ALL) on uniform [-1, 1) inputs of the same shape;
            warm-up runs, then N timed sess.run() calls.
  * Both report nearest-rank p50/p99 over the N per-run wall times (ms); the ratio printed is
    berth p50 / ORT p50 (lower is better).

N adapts to a per-config time budget (--budget seconds per engine, default 3) unless --iterations:
ORT's from its warm-up runs, Berth's from a 3-iteration `berth perf` probe (clamped to 10..2000).
Use a release build of berth (`swift build -c release --product berth`); a debug build is
reported with a warning and its numbers mean nothing. The machine is shared: only the ratios of
one run count.

Usage:
  python bench/ml_vs_ort.py [--berth PATH] [--batches 1,1000] [--threads 1] [--models rf,svc_rbf]
                            [--iterations N] [--budget S] [--rebuild] [--json]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import berthpy  # noqa: E402

REPO_ROOT = berthpy.REPO_ROOT
OUT_DIR = REPO_ROOT / "examples" / "generated" / "ml_bench"
N_FEATURES = 20
N_TRAIN = 2000


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _data():
    from sklearn.datasets import make_classification
    X, y = make_classification(n_samples=N_TRAIN, n_features=N_FEATURES, n_informative=10, n_redundant=4,
                               n_classes=3, random_state=7)
    return X.astype(np.float32), y.astype(np.int64)


def _convert(est) -> onnx.ModelProto:
    zoo = berthpy.load_script("make_zoo")
    return zoo.skl(est, zoo.ftype(N_FEATURES))


def build_rf() -> onnx.ModelProto:
    from sklearn.ensemble import RandomForestClassifier
    X, y = _data()
    return _convert(RandomForestClassifier(n_estimators=100, max_depth=8, random_state=0, n_jobs=1).fit(X, y))


def build_svc_rbf() -> onnx.ModelProto:
    from sklearn.svm import SVC
    X, y = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn 1.9 deprecates probability=True
        return _convert(SVC(kernel="rbf", probability=True, random_state=0).fit(X, y))


MODELS = {"rf": build_rf, "svc_rbf": build_svc_rbf}


def ensure_models(names: list[str], rebuild: bool) -> dict[str, Path]:
    paths = {}
    for n in names:
        p = OUT_DIR / f"{n}.onnx"
        if rebuild or not p.exists():
            p.parent.mkdir(parents=True, exist_ok=True)
            log(f"building {p}")
            onnx.save_model(MODELS[n](), str(p))
        paths[n] = p
    return paths


def describe(path: Path) -> str:
    m = onnx.load(str(path))
    parts = []
    for node in m.graph.node:
        a = {x.name: x for x in node.attribute}
        if node.op_type.startswith("TreeEnsemble"):
            parts.append(f"{node.op_type}({len(set(a['nodes_treeids'].ints))} trees, {len(a['nodes_treeids'].ints)} nodes)")
        elif node.op_type.startswith("SVM"):
            parts.append(f"{node.op_type}({sum(a['vectors_per_class'].ints)} support vectors)")
        else:
            parts.append(node.op_type)
    return " + ".join(parts)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--berth", help="berth binary (default: $BERTH_BIN, .build/release/berth, .build/debug/berth)")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--batches", default="1,1000")
    ap.add_argument("--threads", default="1")
    ap.add_argument("--iterations", type=int, help="timed iterations per config (default: adaptive)")
    ap.add_argument("--budget", type=float, default=3.0, help="adaptive mode: seconds of timed runs per engine per config")
    ap.add_argument("--rebuild", action="store_true", help="retrain and re-export the models")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = ap.parse_args(argv)

    berth = berthpy.find_berth(args.berth)
    problem = berthpy.check_executable(berth)
    if problem:
        sys.exit(problem)
    if "debug" in berth.parts:
        log(f"WARNING: {berth} is a debug build; timings are not representative")
    names = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        sys.exit(f"unknown models {unknown}; known: {', '.join(MODELS)}")
    batches = [int(b) for b in args.batches.split(",")]
    threads_list = [int(t) for t in args.threads.split(",")]
    paths = ensure_models(names, args.rebuild)

    t_start = time.perf_counter()
    for name in names:
        log(f"{name}: {describe(paths[name])}")

    def feeds(name: str, path: Path, batch: int) -> dict:
        return {"input": np.random.default_rng(batch).uniform(-1, 1, (batch, N_FEATURES)).astype(np.float32)}

    def ort_plan(p: berthpy.OrtVsBerthPoint) -> tuple[int, int]:
        return args.iterations or berthpy.iterations_for_budget(args.budget, p.ort_est_ms, 10, 2000), 3

    def berth_plan(p: berthpy.OrtVsBerthPoint) -> tuple[int, int]:
        if args.iterations:
            return args.iterations, 5
        probe = berthpy.run_berth_perf(berth, p.path, p.batch, p.threads, 3, 1)  # sizes N to the budget
        return berthpy.iterations_for_budget(args.budget, max(probe["p50_ms"], 1e-3), 10, 2000), 5

    rows, failed = berthpy.compare_with_ort(berth, paths, batches, threads_list, feeds, ort_plan, berth_plan,
                                            estimate_runs=3, ms_decimals=4)
    elapsed = time.perf_counter() - t_start

    if args.json:
        print(json.dumps({"berth": str(berth), "onnxruntime": ort.__version__, "elapsed_s": elapsed,
                          "results": rows}, indent=2))
    else:
        print(berthpy.ort_comparison_table(rows, model_width=8, ms_decimals=4, throughput=True))
        print(f"(ms per run; ratio = berth p50 / ort p50, lower is better; onnxruntime {ort.__version__}; "
              f"berth {berth}; total {elapsed:.0f} s; shared machine: compare ratios within one run only)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
