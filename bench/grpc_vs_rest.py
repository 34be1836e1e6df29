#!/usr/bin/env python3
"""gRPC vs REST on the same server, in one run (issue 13): `berth serve --demo` and `berth bench` on the
digits MLP at concurrency 1 and 16, batch 1, interleaved rounds (REST JSON, REST binary, gRPC), the
best round of each kept. gRPC sends ModelInfer with raw_input_contents (as tritonclient does); REST
binary uses Triton's binary tensor extension. Use a release build:

    .venv/bin/python bench/grpc_vs_rest.py [--berth PATH] [--seconds 5] [--rounds 2]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import berthpy  # noqa: E402

SETUPS = {
    "rest-json": lambda port, gport: ["--url", f"http://127.0.0.1:{port}"],
    "rest-binary": lambda port, gport: ["--url", f"http://127.0.0.1:{port}", "--binary"],
    "grpc": lambda port, gport: ["--protocol", "grpc", "--url", f"127.0.0.1:{gport}"],
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--berth", default=None)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--concurrency", default="1,16")
    args = ap.parse_args()
    berth = str(berthpy.require_berth(args.berth))
    port, gport = berthpy.free_port(), berthpy.free_port()
    proc = subprocess.Popen([berth, "serve", "--demo", "--insecure-no-auth", "--port", str(port), "--grpc-port", str(gport),
                             "--log-level", "error"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    best: dict[tuple[str, int], dict] = {}
    try:
        berthpy.wait_ready(port)
        for _ in range(args.rounds):
            for name, target in SETUPS.items():
                out = subprocess.run([berth, "bench", *target(port, gport), "--model", "digits", "--concurrency", args.concurrency,
                                      "--duration-seconds", str(args.seconds), "--json"], check=True, capture_output=True, text=True)
                for r in json.loads(out.stdout):
                    key = (name, r["concurrency"])
                    if key not in best or r["infer_per_sec"] > best[key]["infer_per_sec"]:
                        best[key] = r
    finally:
        proc.terminate()
        proc.wait()
    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines() if l.startswith("model name")), platform.processor())
    print(f"# {cpu}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; best of {args.rounds} rounds of {args.seconds:g} s")
    print(f"{'setup':12} {'conc':>5} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'vs rest-json':>13}")
    for (name, conc), r in sorted(best.items(), key=lambda kv: (kv[0][1], list(SETUPS).index(kv[0][0]))):
        base = best[("rest-json", conc)]["infer_per_sec"]
        print(f"{name:12} {conc:5d} {r['infer_per_sec']:9.0f} {r['p50_ms']:8.3f} {r['p99_ms']:8.3f} {r['infer_per_sec'] / base:12.2f}x")


if __name__ == "__main__":
    main()
