#!/usr/bin/env python3
"""What monitoring and authentication cost on the request path (issues 12 and 14), in one run.

Serves the digits MLP four ways from one repository, one server at a time, and measures each with
`berth bench` (JSON bodies, batch-1 requests) at concurrency 1 and 16; the order is interleaved
twice (plain, logged, keyed, keyed+logged, then again) and the better round of each kept:
  plain        --insecure-no-auth
  logged       --insecure-no-auth --prediction-log-sample 1 (every request logged to SQLite)
  keyed        an API key checked on every request (one SQLite read)
  keyed+logged both
Prints throughput and p99 per setup and the throughput ratio to `plain`. With `--registry-url
postgres://…` (replicas' shared registry, e.g. from scripts/postgres.sh) two more: `pg keyed` (the
key in PostgreSQL) and `pg keyed+logged` (the prediction log in PostgreSQL too), and `pg plain` /
`pg logged` without keys (the log's cost alone), with the ratio of each pair. Use a release build:

    .venv/bin/python bench/serving_overheads.py [--berth PATH] [--seconds 5] [--registry-url URL] [--only 'pg plain,pg logged'] [--rounds 2]
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import berthpy  # noqa: E402


def serve_and_bench(berth: str, repo: Path, data: Path, extra: list[str], key: str | None, seconds: float) -> list[dict]:
    port = berthpy.free_port()
    proc = subprocess.Popen([berth, "serve", "--model-repository", str(repo), "--port", str(port), "--grpc-port", "0",
                             "--data-dir", str(data), "--log-level", "error", *extra], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        berthpy.wait_ready(port)
        argv = [berth, "bench", "--url", f"http://127.0.0.1:{port}", "--model", "digits", "--concurrency", "1,16",
                "--duration-seconds", str(seconds), "--json"] + (["--api-key", key] if key else [])
        return json.loads(subprocess.run(argv, check=True, capture_output=True, text=True).stdout)
    finally:
        proc.terminate()
        proc.wait()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--berth", default=None)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--registry-url", default=None, help="a PostgreSQL registry to measure the shared log on")
    ap.add_argument("--only", default=None, help="comma-separated setups to run (plain always runs), e.g. 'pg plain,pg logged'")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved rounds; the best of each setup is kept")
    args = ap.parse_args()
    berth = str(berthpy.require_berth(args.berth))
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        (repo / "digits" / "1").mkdir(parents=True)
        (repo / "digits" / "1" / "model.onnx").write_bytes((ROOT / "examples" / "digits_mlp.onnx").read_bytes())
        data = Path(tmp) / "data"
        key = subprocess.run([berth, "keys", "create", "--tenant", "bench", "--role", "invoker", "--data-dir", str(data)],
                             check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        setups = {"plain": (["--insecure-no-auth"], None),
                  "logged": (["--insecure-no-auth", "--prediction-log-sample", "1"], None),
                  "keyed": ([], key),
                  "keyed+logged": (["--prediction-log-sample", "1"], key)}
        if args.registry_url:
            pg = ["--registry-url", args.registry_url]
            pg_key = subprocess.run([berth, "keys", "create", "--tenant", "bench", "--role", "invoker", "--data-dir", str(data), *pg],
                                    check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
            setups["pg keyed"] = (pg, pg_key)
            setups["pg keyed+logged"] = ([*pg, "--prediction-log-sample", "1"], pg_key)
            # Without keys: the log's own cost, not hidden behind the per-request key check.
            setups["pg plain"] = ([*pg, "--insecure-no-auth"], None)
            setups["pg logged"] = ([*pg, "--insecure-no-auth", "--prediction-log-sample", "1"], None)
        if args.only:
            keep = {"plain", *args.only.split(",")}
            setups = {k: v for k, v in setups.items() if k in keep}
        best: dict[str, dict[int, dict]] = {}
        for _ in range(args.rounds):
            for name, (extra, k) in setups.items():
                for level in serve_and_bench(berth, repo, data, extra, k, args.seconds):
                    c = level["concurrency"]
                    if c not in best.setdefault(name, {}) or level["infer_per_sec"] > best[name][c]["infer_per_sec"]:
                        best[name][c] = level
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
    print(f"# {cpu}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, berth {berth}; digits MLP, JSON, batch 1")
    print(f"{'setup':14} {'conc':>4} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'vs plain':>9}")
    for name in setups:
        for c, level in sorted(best[name].items()):
            ratio = level["infer_per_sec"] / best["plain"][c]["infer_per_sec"]
            print(f"{name:14} {c:4d} {level['infer_per_sec']:9.0f} {level['p50_ms']:8.3f} {level['p99_ms']:8.3f} {ratio:8.2f}x")
    for logged, base in (("pg keyed+logged", "pg keyed"), ("pg logged", "pg plain")):
        if logged in best and base in best:
            for c in sorted(best[base]):
                ratio = best[logged][c]["infer_per_sec"] / best[base][c]["infer_per_sec"]
                print(f"PostgreSQL log: {logged} / {base} at concurrency {c}: {ratio:.2f}x")


if __name__ == "__main__":
    main()
