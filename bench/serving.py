#!/usr/bin/env python3
"""Serving benchmarks of `berth serve`, measured with `berth bench` (Triton perf_analyzer style).

1. Server overhead. `berth serve` with the bundled small models (digits_logreg: one
   LinearClassifier; digits: the MLPClassifier), `berth bench --concurrency 1` over loopback,
   against the engine's own time for the same batch-1 run (`berth perf --batch 1 --threads 1`,
   in-process). Reported three ways:
     end-to-end  = bench p50 - engine p50 (includes the client and the kernel's loopback path);
     server-side = mean request time inside the server minus mean compute, from the model's
                   /stats deltas (Triton's definition, as perf_analyzer's "server overhead");
     no-op RTT   = p50 of GET /v2/health/live from a plain Python client: what any HTTP round
                   trip costs on this machine, before Berth does any work.
2. Dynamic batching. The generated MLP (scripts/make_examples.py) served twice from one
   repository: `mlp_batched` (max_batch_size 32, max_queue_delay_us 0: merge what is queued) and `mlp_unbatched`
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
import server_vs_mlserver as svm  # noqa: E402  (Server, find_berth, log)

REPO = berthpy.REPO_ROOT


def bench(berth: Path, base: str, model: str, concurrency: int, duration: float, binary: bool = False) -> dict:
    argv = [str(berth), "bench", "--url", base, "--model", model, "--concurrency", str(concurrency),
            "--duration-seconds", str(duration), "--json"] + (["--binary"] if binary else [])
    svm.log("  " + shlex.join(argv))
    out = subprocess.run(argv, check=True, capture_output=True, text=True)
    return json.loads(out.stdout)[0]


def stats(base: str, model: str) -> dict:
    import urllib.request
    with urllib.request.urlopen(f"{base}/v2/models/{model}/stats", timeout=10) as r:
        m = json.load(r)["model_stats"][0]
    out = {k: (v["count"], v["ns"]) for k, v in m["inference_stats"].items()}
    out["rows"] = (m["inference_count"], 0)
    out["executions"] = (m["execution_count"], 0)
    return out


def server_side_overhead_us(before: dict, after: dict) -> float:
    n = after["success"][0] - before["success"][0]
    total = after["success"][1] - before["success"][1]
    compute = sum(after[k][1] - before[k][1] for k in ("compute_input", "compute_infer", "compute_output"))
    return (total - compute) / max(1, n) / 1000


def noop_rtt_us(base: str, n: int = 3000) -> float:
    import http.client
    import time
    host, port = base.replace("http://", "").split(":")
    c = http.client.HTTPConnection(host, int(port))
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        c.request("GET", "/v2/health/live")
        c.getresponse().read()
        ts.append(time.perf_counter() - t)
    ts.sort()
    return ts[len(ts) // 2] * 1e6


def serve(berth: Path, repo: Path, name: str, first_model: str, log_dir: Path) -> svm.Server:
    port = berthpy.free_port()
    argv = [str(berth), "serve", "--model-repository", str(repo), "--host", "127.0.0.1", "--port", str(port)]
    return svm.Server(name, argv, REPO, port, log_dir, timeout=120, model=first_model)


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
        link_model(repo, "mlp_batched", mlp, {"max_batch_size": 32, "dynamic_batching": {"max_queue_delay_us": 0}})
        link_model(repo, "mlp_unbatched", mlp, {"max_batch_size": 0})
        with serve(berth, repo, "berth", "digits_logreg", tmp) as server:
            for (name, file), binary in [((n, f), b) for n, f in [("digits_logreg", "digits_logreg.onnx"),
                                                                   ("digits", "digits_mlp.onnx")] for b in (False, True)]:
                s0 = stats(server.base, name)
                b = bench(berth, server.base, name, 1, args.duration_seconds, binary)
                s1 = stats(server.base, name)
                engine = berthpy.run_berth_perf(berth, REPO / "examples" / file, batch=1, threads=1,
                                                iterations=20000, warmup=200)
                row = {"model": name, "body": "binary" if binary else "JSON",
                       "server_p50_ms": b["p50_ms"], "server_p99_ms": b["p99_ms"],
                       "engine_p50_ms": engine["p50_ms"], "overhead_us": (b["p50_ms"] - engine["p50_ms"]) * 1000,
                       "server_side_overhead_us": server_side_overhead_us(s0, s1),
                       "infer_per_sec": b["infer_per_sec"], "errors": b["errors"]}
                result["overhead"].append(row)
            result["noop_rtt_us"] = noop_rtt_us(server.base)
            for name in ["mlp_unbatched", "mlp_batched"]:
                s0 = stats(server.base, name)
                r = bench(berth, server.base, name, 32, args.duration_seconds, binary=True)
                s1 = stats(server.base, name)
                n = max(1, s1["success"][0] - s0["success"][0])
                r["rows_per_execution"] = (s1["rows"][0] - s0["rows"][0]) / max(1, s1["executions"][0] - s0["executions"][0])
                r["server_request_us"] = (s1["success"][1] - s0["success"][1]) / n / 1000
                r["server_compute_us"] = sum(s1[k][1] - s0[k][1] for k in ("compute_input", "compute_infer", "compute_output")) / n / 1000
                result["batching"][name] = r
    u, b = result["batching"]["mlp_unbatched"], result["batching"]["mlp_batched"]
    result["batching"]["throughput_ratio"] = b["infer_per_sec"] / u["infer_per_sec"] if u["infer_per_sec"] else None
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print("Server overhead at concurrency 1 (berth bench p50 - berth perf p50, batch 1):")
    print(f"{'model':<14}{'body':<7}{'bench p50':>10}{'bench p99':>10}{'engine p50':>11}{'end-to-end':>11}"
          f"{'server-side':>12}{'infer/s':>9}")
    for r in result["overhead"]:
        print(f"{r['model']:<14}{r['body']:<7}{r['server_p50_ms']:>8.3f}ms{r['server_p99_ms']:>8.3f}ms{r['engine_p50_ms']:>9.3f}ms"
              f"{r['overhead_us']:>9.0f}µs{r['server_side_overhead_us']:>10.0f}µs{r['infer_per_sec']:>9.0f}")
    print(f"no-op HTTP round trip on this machine (GET /v2/health/live, Python client): {result['noop_rtt_us']:.0f} µs")
    print("\nDynamic batching, MLP, batch-1 requests at concurrency 32:")
    for name in ["mlp_unbatched", "mlp_batched"]:
        r = result["batching"][name]
        print(f"{name:<14}{r['infer_per_sec']:>9.0f} infer/s  p50 {r['p50_ms']:.3f} ms  p99 {r['p99_ms']:.3f} ms  "
              f"errors {r['errors']}  rows/execution {r['rows_per_execution']:.2f}  "
              f"in server {r['server_request_us']:.0f} µs/request, of which compute {r['server_compute_us']:.0f}")
    print(f"batched / unbatched throughput: {result['batching']['throughput_ratio']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
