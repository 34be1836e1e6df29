"""Tenant fairness under a flood (issue 14): tenant B sends steady traffic alone, then again while
tenant A floods at 10x its quota. Prints B's p50/p99 in both phases and their ratio, and A's
answers by status. Run after `swift build -c release --product berth` (or set BERTH_BIN):

    .venv/bin/python bench/tenant_fairness.py [--seconds 10] [--quota 50]
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "python"))
from test_registry_cli import model_bytes  # noqa: E402


def berth() -> str:
    for p in [os.environ.get("BERTH_BIN"), ROOT / ".build/release/berth", ROOT / ".build/debug/berth"]:
        if p and Path(p).exists():
            return str(p)
    sys.exit("build berth first: swift build -c release --product berth")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(*args: str) -> str:
    return subprocess.run([berth(), *args], check=True, capture_output=True, text=True).stdout


BODY = json.dumps({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}).encode()


def client(port: int, key: str, rate: float, seconds: float, out: list, statuses: Counter) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    period = 1 / rate
    end = time.monotonic() + seconds
    next_at = time.monotonic()
    while time.monotonic() < end:
        t0 = time.monotonic()
        conn.request("POST", "/v2/models/m/infer", body=BODY, headers=headers)
        r = conn.getresponse()
        r.read()
        statuses[r.status] += 1
        if r.status == 200:
            out.append(time.monotonic() - t0)
        next_at += period
        time.sleep(max(0, next_at - time.monotonic()))


def phase(port: int, b_key: str, a_key: str | None, seconds: float, quota: float, a_clients: int):
    b_lat: list[float] = []
    b_status: Counter = Counter()
    a_status: Counter = Counter()
    threads = [threading.Thread(target=client, args=(port, b_key, 50, seconds, b_lat, b_status))]
    if a_key:
        for _ in range(a_clients):
            threads.append(threading.Thread(target=client, args=(port, a_key, 10 * quota / a_clients, seconds, [], a_status)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lat = np.array(b_lat) * 1000
    return np.percentile(lat, 50), np.percentile(lat, 99), b_status, a_status


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--quota", type=float, default=50, help="tenant A's requests/s")
    ap.add_argument("--a-clients", type=int, default=8)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        (Path(tmp) / "m.onnx").write_bytes(model_bytes(1))
        run("registry", "push", "m", str(Path(tmp) / "m.onnx"), "--data-dir", str(data))
        run("registry", "promote", "m", "1", "--data-dir", str(data))
        a = run("keys", "create", "--tenant", "a", "--role", "invoker", "--data-dir", str(data)).strip().splitlines()[-1]
        b = run("keys", "create", "--tenant", "b", "--role", "invoker", "--data-dir", str(data)).strip().splitlines()[-1]
        run("tenants", "quota", "a", "--requests-per-second", str(args.quota), "--data-dir", str(data))
        port = free_port()
        proc = subprocess.Popen([berth(), "serve", "--registry", "--data-dir", str(data), "--port", str(port), "--grpc-port", "0",
                                 "--log-level", "error"])
        try:
            for _ in range(600):
                try:
                    c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                    c.request("GET", "/v2/health/ready")
                    if c.getresponse().status == 200:
                        break
                except OSError:
                    time.sleep(0.1)
            phase(port, b, None, 2, args.quota, args.a_clients)  # warm-up
            alone = phase(port, b, None, args.seconds, args.quota, args.a_clients)
            flooded = phase(port, b, a, args.seconds, args.quota, args.a_clients)
        finally:
            proc.terminate()
            proc.wait()
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
    print(f"# {cpu}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, berth {berth()}")
    print(f"tenant B alone:          p50 {alone[0]:.2f} ms  p99 {alone[1]:.2f} ms  statuses {dict(alone[2])}")
    print(f"tenant B, A flooding:    p50 {flooded[0]:.2f} ms  p99 {flooded[1]:.2f} ms  statuses {dict(flooded[2])}")
    print(f"tenant A (10x {args.quota:g}/s): statuses {dict(flooded[3])}")
    print(f"B p99 ratio flooded/alone: {flooded[1] / alone[1]:.2f}")


if __name__ == "__main__":
    main()
