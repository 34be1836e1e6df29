#!/usr/bin/env python3
"""Peak memory: Berth (`berth perf --json`, its `peak_rss_mb`) vs ONNX Runtime, each in a process of
its own running the same model at the same batch (RSS high-water mark: VmHWM of /proc/self/status,
which, unlike getrusage's ru_maxrss, does not start at the RSS of the process that started it).

ORT runs in a fresh Python process that imports numpy and onnxruntime, makes the session as
bench/engine_vs_ort.py does (1 intra-op thread, ORT_ENABLE_ALL), and runs it `--runs` times; its
figure therefore includes the Python interpreter and numpy (about 30 MB, printed as `python
baseline`: the same process before the session is made). Berth's includes its binary's touched
pages. Both include the model's weights.

Usage: python bench/peak_memory.py [--berth PATH] [--models resnet50,mobilenetv2,cnn] [--batches 1,32]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import engine_vs_ort  # noqa: E402  (model builders and random inputs)
import berthpy  # noqa: E402  (engine_vs_ort put scripts/ on the path)

ORT_CHILD = r"""
import sys, numpy as np, onnxruntime as ort
sys.path.insert(0, sys.argv[4])
import engine_vs_ort
from pathlib import Path
def hwm():
    # VmHWM, not getrusage's ru_maxrss: that one survives exec and starts at the parent's RSS.
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"): return int(line.split()[1]) / 1024
base = hwm()
feeds = engine_vs_ort.random_inputs(Path(sys.argv[1]), int(sys.argv[2]))
so = ort.SessionOptions(); so.intra_op_num_threads = 1; so.inter_op_num_threads = 1
so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
s = ort.InferenceSession(sys.argv[1], so, providers=["CPUExecutionProvider"])
for _ in range(int(sys.argv[3])): s.run(None, feeds)
print(base, hwm())
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--berth")
    ap.add_argument("--models", default="resnet50,mobilenetv2,cnn")
    ap.add_argument("--batches", default="1,32")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args(argv)
    berth = berthpy.require_berth(args.berth)
    paths = engine_vs_ort.ensure_models([m for m in args.models.split(",") if m])
    print(f"{'model':12s} {'batch':>5s} {'berth MB':>9s} {'ort MB':>8s} {'python baseline':>16s} {'ratio':>6s}")
    for name, path in paths.items():
        for batch in [int(b) for b in args.batches.split(",")]:
            b = berthpy.run_berth_perf(berth, path, batch, 1, args.runs, 1)
            out = subprocess.run([sys.executable, "-c", ORT_CHILD, str(path), str(batch), str(args.runs + 1),
                                  str(Path(__file__).resolve().parent)], capture_output=True, text=True, check=True)
            base, peak = map(float, out.stdout.split())
            print(f"{name:12s} {batch:5d} {b['peak_rss_mb']:9.1f} {peak:8.1f} {base:16.1f} {b['peak_rss_mb'] / peak:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
