"""`berth perf --profile` (time per operator type and per node) and `peak_rss_mb` (issue 11).

The reference for the profile is ONNX Runtime's own profiler on the same file with graph
optimizations off on both sides: the same operator types must appear with the same calls per run
(every node is timed exactly once per run), and the shares must add up to the whole. The peak
resident memory Berth reports must agree with what the kernel reports for the process
(os.wait4's rusage), which is at least Berth's figure (read before profiling) and never far above.
"""
from __future__ import annotations

import json
import os
import subprocess
from collections import Counter
from pathlib import Path

import numpy as np
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


def test_peak_memory_agrees_with_the_kernel():
    proc = subprocess.Popen([str(berth_path()), "perf", str(EXAMPLES / "digits_mlp.onnx"), "--json", "--iterations", "20"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    berth_mb = json.loads(out)["peak_rss_mb"]
    kernel_mb = usage.ru_maxrss / 1024
    # Berth reads its high-water mark just before printing: the final figure can only be a little higher.
    assert 0 < berth_mb <= kernel_mb + 0.1 and kernel_mb - berth_mb < 16, (berth_mb, kernel_mb)
