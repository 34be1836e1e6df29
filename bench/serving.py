#!/usr/bin/env python3
"""Serving benchmarks of `berth serve`, measured with `berth bench` (Triton perf_analyzer style).

1. Server overhead. `berth serve` with the bundled small models (digits_logreg: one
   LinearClassifier; digits: the MLPClassifier), `berth bench --concurrency 1` over loopback,
   against the engine's own time for the same batch-1 run (`berth perf --batch 1 --threads 1`,
   in-process). overhead = server p50 - engine p50: HTTP, JSON coding, queueing and scheduling.
2. Dynamic batching. The generated MLP (scripts/make_examples.py) served twice from one
   repository: `mlp_batched` (max_batch_size 32, max_queue_delay_us 500) and `mlp_unbatched`
   (max_batch_size 0), each at concurrency 32 with batch-1 requests; ratio of throughputs.
   Requests use Triton's binary tensor extension, as perf_analyzer does by default (the MLP's
   1,000-float input as JSON text would measure JSON parsing, not batching).

The server is started on 127.0.0.1 and a free port, waited for, measured and stopped. The
machine is shared: compare numbers within one run only.

Usage: python bench/serving.py [--berth PATH] [--duration-seconds 5] [--json]
"""
from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import berthpy  # noqa: E402
import server_vs_mlserver as svm  # noqa: E402  (Server, free_port, log)

REPO = berthpy.REPO_ROOT


def bench(berth: Path, base: str, model: str, concurrency: int, duration: float, binary: bool = False) -> dict:
    argv = [str(berth), "bench", "--url", base, "--model", model, "--concurrency", str(concurrency),
            "--duration-seconds", str(duration), "--json"] + (["--binary"] if binary else [])
    svm.log("  " + shlex.join(argv))
    out = subprocess.run(argv, check=True, capture_output=True, text=True)
    return json.loads(out.stdout)[0]


def serve(berth: Path, repo: Path, name: str, first_model: str, log_dir: Path) -> svm.Server:
    svm.MODEL_NAME = first_model  # what Server waits for
    port = svm.free_port()
    argv = [str(berth), "serve", "--model-repository", str(repo), "--host", "127.0.0.1", "--port", str(port)]
    return svm.Server(name, argv, REPO, port, log_dir, timeout=120)


def link_model(repo: Path, name: str, model: Path, config: dict | None = None) -> None:
    d = repo / name / "1"
    d.mkdir(parents=True)
    (d / "model.onnx").symlink_to(model.resolve())
    if config is not None:
        (repo / name / "config.json").write_text(json.dumps(config))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--berth", help="berth binary (default: $BERTH_BIN, .build/release/berth, .build/debug/berth)")
    ap.add_argument("--duration-seconds", type=float, default=5.0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    berth = svm.find_berth(args.berth)
    mlp = REPO / "examples" / "generated" / "mlp.onnx"
    if not mlp.exists():
        berthpy.load_script("make_examples").build_generated(mlp.parent, verbose=False)
    result: dict = {"berth": str(berth), "overhead": [], "batching": {}}
    with tempfile.TemporaryDirectory(prefix="berth-serving-bench-") as tmp:
        tmp = Path(tmp)
        repo = tmp / "repo"
        link_model(repo, "digits_logreg", REPO / "examples" / "digits_logreg.onnx")
        link_model(repo, "digits", REPO / "examples" / "digits_mlp.onnx")
        link_model(repo, "mlp_batched", mlp, {"max_batch_size": 32, "dynamic_batching": {"max_queue_delay_us": 500}})
        link_model(repo, "mlp_unbatched", mlp, {"max_batch_size": 0})
        with serve(berth, repo, "berth", "digits_logreg", tmp):
            pass  # first start compiles nothing, but warms the page cache before measuring
        with serve(berth, repo, "berth", "digits_logreg", tmp) as server:
            for (name, file), binary in [((n, f), b) for n, f in [("digits_logreg", "digits_logreg.onnx"),
                                                                   ("digits", "digits_mlp.onnx")] for b in (False, True)]:
                b = bench(berth, server.base, name, 1, args.duration_seconds, binary)
                engine = berthpy.run_berth_perf(berth, REPO / "examples" / file, batch=1, threads=1,
                                                iterations=20000, warmup=200)
                row = {"model": name, "body": "binary" if binary else "JSON",
                       "server_p50_ms": b["p50_ms"], "server_p99_ms": b["p99_ms"],
                       "engine_p50_ms": engine["p50_ms"], "overhead_us": (b["p50_ms"] - engine["p50_ms"]) * 1000,
                       "infer_per_sec": b["infer_per_sec"], "errors": b["errors"]}
                result["overhead"].append(row)
            for name in ["mlp_unbatched", "mlp_batched"]:
                result["batching"][name] = bench(berth, server.base, name, 32, args.duration_seconds, binary=True)
    u, b = result["batching"]["mlp_unbatched"], result["batching"]["mlp_batched"]
    result["batching"]["throughput_ratio"] = b["infer_per_sec"] / u["infer_per_sec"] if u["infer_per_sec"] else None
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print("Server overhead at concurrency 1 (berth bench p50 - berth perf p50, batch 1):")
    print(f"{'model':<14}{'body':<7}{'server p50':>11}{'server p99':>11}{'engine p50':>11}{'overhead':>10}{'infer/s':>9}")
    for r in result["overhead"]:
        print(f"{r['model']:<14}{r['body']:<7}{r['server_p50_ms']:>9.3f}ms{r['server_p99_ms']:>9.3f}ms{r['engine_p50_ms']:>9.3f}ms"
              f"{r['overhead_us']:>8.0f}µs{r['infer_per_sec']:>9.0f}")
    print("\nDynamic batching, MLP, batch-1 requests at concurrency 32:")
    for name in ["mlp_unbatched", "mlp_batched"]:
        r = result["batching"][name]
        print(f"{name:<14}{r['infer_per_sec']:>9.0f} infer/s  p50 {r['p50_ms']:.3f} ms  p99 {r['p99_ms']:.3f} ms  errors {r['errors']}")
    print(f"batched / unbatched throughput: {result['batching']['throughput_ratio']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
