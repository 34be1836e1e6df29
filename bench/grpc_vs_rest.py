#!/usr/bin/env python3
"""gRPC vs REST on the same server, in one run (issue 13): `berth serve --demo` and `berth bench` on the
digits MLP at concurrency 1 and 16, batch 1, interleaved rounds (REST JSON, REST binary, gRPC), the
best round of each kept. gRPC sends ModelInfer with raw_input_contents (as tritonclient does); REST
binary uses Triton's binary tensor extension. `--grpc-transport` picks the server's gRPC transport
(BERTH_GRPC_TRANSPORT); `both` starts a second server on grpc-swift-nio-transport and adds a `grpc-nio`
row measured against it in the same rounds. `--client-executor both` adds a `grpc-global` row: the
`berth bench` gRPC client with its loops on Swift's global executor (BERTH_BENCH_GRPC_EXECUTOR=global)
instead of on their connections' event loops. Use a release build:

    .venv/bin/python bench/grpc_vs_rest.py [--berth PATH] [--seconds 5] [--rounds 2] [--grpc-transport fast|nio|both]
                                           [--client-executor both]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
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
# With --grpc-transport both: gRPC on a second server that uses grpc-swift-nio-transport.
NIO_SETUP = "grpc-nio"
# With --client-executor both: the gRPC client's loops on Swift's global executor.
GLOBAL_SETUP = "grpc-global"


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (/proc/PID/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--berth", default=None)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--concurrency", default="1,16")
    ap.add_argument("--grpc-transport", choices=["fast", "nio", "both"], default=None,
                    help="the server's gRPC transport (default: the server's own default)")
    ap.add_argument("--client-executor", choices=["loop", "both"], default="loop",
                    help="both: also measure the gRPC client with its loops on Swift's global executor")
    args = ap.parse_args()
    berth = str(berthpy.require_berth(args.berth))

    def serve(transport: str | None) -> tuple[subprocess.Popen, int, int]:
        port, gport = berthpy.free_port(), berthpy.free_port()
        env = dict(os.environ)
        if transport:
            env["BERTH_GRPC_TRANSPORT"] = transport
        proc = subprocess.Popen([berth, "serve", "--demo", "--insecure-no-auth", "--port", str(port), "--grpc-port", str(gport),
                                 "--log-level", "error"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, env=env)
        return proc, port, gport

    proc, port, gport = serve("fast" if args.grpc_transport == "both" else args.grpc_transport)
    servers = {name: (proc, port, gport) for name in SETUPS}
    setups = dict(SETUPS)
    if args.grpc_transport == "both":
        servers[NIO_SETUP] = serve("nio")
        setups[NIO_SETUP] = SETUPS["grpc"]
    if args.client_executor == "both":
        servers[GLOBAL_SETUP] = servers["grpc"]
        setups[GLOBAL_SETUP] = SETUPS["grpc"]
    best: dict[tuple[str, int], dict] = {}
    try:
        for p, rest_port, _ in set(servers.values()):
            berthpy.wait_ready(rest_port)
        for _ in range(args.rounds):
            for name, target in setups.items():
                proc, port, gport = servers[name]
                cpu0 = cpu_seconds(proc.pid)
                kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)
                env = dict(os.environ, BERTH_BENCH_GRPC_EXECUTOR="global" if name == GLOBAL_SETUP else "loop")
                out = subprocess.run([berth, "bench", *target(port, gport), "--model", "digits", "--concurrency", args.concurrency,
                                      "--duration-seconds", str(args.seconds), "--json"], check=True, capture_output=True, text=True, env=env)
                cpu1 = cpu_seconds(proc.pid)
                kids1 = resource.getrusage(resource.RUSAGE_CHILDREN)
                client_cpu = (kids1.ru_utime - kids0.ru_utime) + (kids1.ru_stime - kids0.ru_stime)
                runs = json.loads(out.stdout)
                # Server CPU per request over the whole bench call (all concurrencies): the transport's own
                # cost, which throughput hides when client and server share the cores.
                total = sum(r.get("requests", 0) for r in runs) or 1
                for r in runs:
                    r["server_cpu_us"] = (cpu1 - cpu0) * 1e6 / total
                    # The `berth bench` client's own CPU (a finished child process), per request likewise.
                    r["client_cpu_us"] = client_cpu * 1e6 / total
                for r in runs:
                    key = (name, r["concurrency"])
                    if key not in best or r["infer_per_sec"] > best[key]["infer_per_sec"]:
                        best[key] = r
    finally:
        for p, _, _ in set(servers.values()):
            p.terminate()
            p.wait()
    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines() if l.startswith("model name")), platform.processor())
    print(f"# {cpu}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; best of {args.rounds} rounds of {args.seconds:g} s")
    print(f"{'setup':12} {'conc':>5} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'vs rest-json':>13} {'srv cpu us/req':>15} {'cli cpu us/req':>15}")
    transport = {"both": "fast (grpc-nio: nio)"}.get(args.grpc_transport, args.grpc_transport or "server default")
    print(f"# gRPC transport: {transport}")
    for (name, conc), r in sorted(best.items(), key=lambda kv: (kv[0][1], list(setups).index(kv[0][0]))):
        base = best[("rest-json", conc)]["infer_per_sec"]
        print(f"{name:12} {conc:5d} {r['infer_per_sec']:9.0f} {r['p50_ms']:8.3f} {r['p99_ms']:8.3f} {r['infer_per_sec'] / base:12.2f}x {r['server_cpu_us']:15.1f} {r['client_cpu_us']:15.1f}")


if __name__ == "__main__":
    main()
