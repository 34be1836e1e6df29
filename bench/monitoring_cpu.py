#!/usr/bin/env python3
"""CPU time per request of the prediction log, SQLite and PostgreSQL (issue 16), in one run.

Throughput ratios (bench/serving_overheads.py) drown in noise when other work shares the machine;
CPU seconds per request, read from /proc for the server and for the PostgreSQL server's processes,
do not. Serves the digits MLP from a repository with an API key four ways, measures each with
`berth bench` at concurrency 16, best of two rounds:
  pg keyed          key in PostgreSQL (--registry-url), no log
  pg keyed+logged   and every request logged to PostgreSQL
  sqlite keyed      key in SQLite, no log
  sqlite keyed+logged
Needs a running PostgreSQL and its directory (scripts/postgres.sh start; BERTH_PG_DIR):

    .venv/bin/python bench/monitoring_cpu.py BERTH URL PG_DIR [SECONDS]
"""
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import berthpy

berth, url, pgdir = sys.argv[1], sys.argv[2], sys.argv[3]
seconds = float(sys.argv[4]) if len(sys.argv) > 4 else 8.0
tick = os.sysconf("SC_CLK_TCK")

def cpu(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / tick

def pg_cpu():
    master = int(open(f"{pgdir}/data/postmaster.pid").readline())
    total = cpu(master)
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                f = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
                if int(f[1]) == master:
                    total += (int(f[11]) + int(f[12])) / tick
            except OSError:
                pass
    return total

with tempfile.TemporaryDirectory() as tmp:
    repo = Path(tmp) / "repo"; (repo / "digits" / "1").mkdir(parents=True)
    (repo / "digits" / "1" / "model.onnx").write_bytes((Path(__file__).resolve().parent.parent / "examples" / "digits_mlp.onnx").read_bytes())
    data = Path(tmp) / "data"
    key = subprocess.run([berth, "keys", "create", "--tenant", "b", "--role", "invoker", "--data-dir", str(data), "--registry-url", url],
                         check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    results = {}
    sqkey = [None]
    for rnd in range(2):
        for name, extra in [("pg keyed", []), ("pg keyed+logged", ["--prediction-log-sample", "1"]),
                            ("sqlite keyed", "sq"), ("sqlite keyed+logged", "sql")]:
            port = berthpy.free_port()
            if isinstance(extra, str):
                d2 = Path(tmp) / "sq"
                if not (d2 / "registry.sqlite").exists():
                    sqkey[0] = subprocess.run([berth, "keys", "create", "--tenant", "b", "--role", "invoker", "--data-dir", str(d2)],
                                              check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
                argv = ["--data-dir", str(d2)] + (["--prediction-log-sample", "1"] if extra == "sql" else []); k = sqkey[0]
            else:
                argv = ["--data-dir", str(data), "--registry-url", url, *extra]; k = key
            proc = subprocess.Popen([berth, "serve", "--model-repository", str(repo), "--port", str(port), "--grpc-port", "0",
                                     "--log-level", "error", *argv], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
            try:
                berthpy.wait_ready(port)
                c0, p0 = cpu(proc.pid), pg_cpu()
                out = subprocess.run([berth, "bench", "--url", f"http://127.0.0.1:{port}", "--model", "digits", "--concurrency", "16",
                                      "--duration-seconds", str(seconds), "--json", "--api-key", k], check=True, capture_output=True, text=True).stdout
                time.sleep(0.5)  # the log's last batch
                c1, p1 = cpu(proc.pid), pg_cpu()
                level = json.loads(out)[0]
                n = level["infer_per_sec"] * seconds
                results.setdefault(name, []).append(((c1 - c0) / n * 1e3, (p1 - p0) / n * 1e3, level["infer_per_sec"]))
            finally:
                proc.terminate(); proc.wait()
    print(f"# load {os.getloadavg()[0]:.1f}; CPU ms per request at concurrency 16 (best of 2 by total)")
    for name, rows in results.items():
        b, p, r = min(rows, key=lambda t: t[0] + t[1])
        print(f"{name:22} berth {b:.3f} ms  postgres {p:.3f} ms  total {b + p:.3f} ms  ({r:.0f} req/s)")
