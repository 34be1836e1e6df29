"""`berth perf --profile` (time per operator type and per node) and `peak_rss_mb` (issue 11).

The reference for the profile is ONNX Runtime's own profiler on the same file with graph
optimizations off on both sides: the same operator types must appear with the same calls per run
(every node is timed exactly once per run), and the shares must add up to the whole. The peak
resident memory Berth reports must agree with the high-water mark the kernel shows for the process
while it runs (VmHWM in /proc/PID/status), and must not count the memory of the process that
started it (getrusage's ru_maxrss, which survives exec, did).
"""
from __future__ import annotations

import json
import os
import subprocess
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from conftest import berth_path
from test_prune import EXAMPLES, cnn

RUNS = 4


def ort_calls_per_run(model: Path, tmp_path: Path) -> Counter:
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.enable_profiling = True
    opts.profile_file_prefix = str(tmp_path / "ort_profile")
    s = ort.InferenceSession(str(model), opts, providers=["CPUExecutionProvider"])
    feeds = {}
    for i in s.get_inputs():
        shape = [d if isinstance(d, int) else 1 for d in i.shape]
        feeds[i.name] = np.random.default_rng(0).random(shape).astype(np.float32)
    for _ in range(RUNS):
        s.run(None, feeds)
    events = json.loads(Path(s.end_profiling()).read_text())
    calls = Counter(e["args"]["op_name"] for e in events
                    if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"))
    return Counter({op: n // RUNS for op, n in calls.items()})


def berth_perf(model: Path) -> dict:
    """berth perf's JSON report, profiled, without graph optimizations."""
    p = subprocess.run([str(berth_path()), "perf", str(model), "--profile", "--json", "--no-optimize",
                        "--iterations", str(RUNS), "--warmup", "1"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_profile_counts_match_onnxruntime(tmp_path):
    model = tmp_path / "cnn.onnx"
    cnn(model, residual=True)
    for path in (model, EXAMPLES / "digits_mlp.onnx"):
        report = berth_perf(path)
        berth = Counter({r["op"]: r["calls"] for r in report["profile"]["operators"]})
        assert berth == ort_calls_per_run(path, tmp_path), path
        assert abs(sum(r["share"] for r in report["profile"]["operators"]) - 100) < 1e-6
        total_ms = sum(r["ms"] for r in report["profile"]["operators"])
        assert 0 < total_ms
        # The slowest node is listed first and belongs to a reported operator type.
        nodes = report["profile"]["nodes"]
        assert nodes == sorted(nodes, key=lambda r: -r["ms"]) and nodes[0]["op"] in berth


def _vm_hwm_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def test_peak_memory_agrees_with_the_kernel():
    # This test process holds 200 MB more than Berth needs: getrusage's ru_maxrss survives exec,
    # so a figure taken from it would start at this process's RSS.
    ballast = np.ones(200 << 20, dtype=np.uint8)
    proc = subprocess.Popen([str(berth_path()), "perf", str(EXAMPLES / "digits_mlp.onnx"), "--json", "--iterations", "20000"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    seen = 0.0
    while proc.poll() is None:
        try:
            seen = max(seen, _vm_hwm_mb(proc.pid))
        except (FileNotFoundError, ProcessLookupError):
            break
    out = proc.stdout.read()
    assert proc.wait() == 0
    berth_mb = json.loads(out)["peak_rss_mb"]
    # The kernel's high-water mark polled while it ran (/proc/PID/status; the last poll may fall
    # before or after Berth reads its own) is close to Berth's figure; neither counts the ballast.
    assert seen > 0 and abs(berth_mb - seen) < 16, (berth_mb, seen)
    assert berth_mb < float(ballast.nbytes) / 2**20, berth_mb


def test_profile_times_the_members_of_fused_regions(tmp_path):
    # Optimized, the CNN's convolutions, normalization and Add run as one blocked-layout region: one
    # node of the plan. The profile must still show what ran inside it, each Conv of the model once
    # per run, and the members (plus the region's output reorder) must account for the region's time.
    model = tmp_path / "cnn.onnx"
    cnn(model, residual=True)
    p = subprocess.run([str(berth_path()), "perf", str(model), "--profile", "--json", "--iterations", str(RUNS), "--warmup", "1"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    profile = json.loads(p.stdout)["profile"]
    regions = {r["node"]: r for r in profile["nodes"] if r["op"] == "BlockedRegion"}
    members = profile["region_members"]
    assert regions and members, profile
    assert {m["region"] for m in members} <= set(regions)
    convs = sum(n.op_type == "Conv" for n in onnx.load(str(model)).graph.node)
    assert sum(m["calls"] for m in members if "Conv" in m["op"]) == convs, members
    for name, region in regions.items():
        inside = sum(m["ms"] for m in members if m["region"] == name)
        assert 0.5 * region["ms"] <= inside <= region["ms"] * 1.001, (region, members)
    per_op = {r["op"]: r["calls"] for r in profile["region_operators"]}
    assert sum(c for op, c in per_op.items() if "Conv" in op) == convs
