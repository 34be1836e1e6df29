"""Small helpers shared by Berth's Python scripts, tests and benchmarks.

Import it from anywhere in the repo with

    sys.path.insert(0, str(Path(__file__).resolve().parents[N] / "scripts"))
    import berthpy

(N = 1 for files in bench/ or scripts/, 2 for tests/python/).

  REPO_ROOT             the repository root (a Path)
  find_berth(explicit)  the berth binary: `explicit`, else $BERTH_BIN, else .build/release/berth,
                        else .build/debug/berth; None if none of them exists
  load_script(name)     imports scripts/<name>.py as a module (e.g. "make_examples")
  berth_run(...)        `berth run MODEL --input NAME=FILE.npy ... --output-dir DIR`, outputs loaded
  run_berth_perf(...)   `berth perf --json`, parsed
  compare_with_ort(...) the benchmarks' loop: per model/batch/threads, ORT timings, `berth perf`, ratio
  iterations_for_budget(s, ms, lo, hi)  timed runs that fit s seconds at ms per run, clamped to lo..hi
  ort_comparison_table(rows, ...)  compare_with_ort's rows as the benchmarks' text table
  nearest_rank(a, p)    the nearest-rank percentile berth perf uses
  latency_stats(ms, b)  mean/p50/p90/p99/throughput of per-run times, as berth perf reports them
  OrtTimer(model, t)    an ONNX Runtime session set up as the benchmarks time it
  safe_output_name(n)   the file stem `berth run --output-dir` writes output `n` to
  free_port()           a free TCP port on 127.0.0.1 (for starting servers)
  http_json(...)        one HTTP request with a JSON body and answer: (status, parsed JSON or None)
  prometheus_samples(t, name)  the (labels, value) samples of one metric in /metrics text
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Callable, NamedTuple

REPO_ROOT = Path(__file__).resolve().parent.parent
SCRIPTS_DIR = REPO_ROOT / "scripts"
BUILD_CANDIDATES = (REPO_ROOT / ".build" / "release" / "berth", REPO_ROOT / ".build" / "debug" / "berth")
BERTH_NOT_FOUND = ("berth binary not found: set BERTH_BIN or build it (swift build -c release --product berth) "
                   f"so {REPO_ROOT}/.build/release/berth or .build/debug/berth exists")


def log(msg: str) -> None:
    """A progress line on stderr (stdout stays for tables and JSON)."""
    print(msg, file=sys.stderr, flush=True)


def require_berth(explicit: str | None) -> Path:
    """Like find_berth, but exits with a hint when no binary is found (for command-line scripts)."""
    p = find_berth(explicit)
    if p is None:
        sys.exit("berth binary not found: pass --berth PATH, set BERTH_BIN, or `swift build -c release --product berth`")
    return p


def find_berth(explicit: str | os.PathLike | None = None) -> Path | None:
    """The berth binary: `explicit`, else $BERTH_BIN, else the release build, else the debug build.

    An explicit path or $BERTH_BIN is returned as given even if it does not exist (so the caller
    can name it in its error); None means no candidate was found.
    """
    if explicit:
        return Path(explicit)
    env = os.environ.get("BERTH_BIN")
    if env:
        return Path(env)
    for cand in BUILD_CANDIDATES:
        if cand.exists():
            return cand
    return None


def check_executable(path: Path | None) -> str | None:
    """None if `path` is an executable file, else a message saying what is wrong."""
    if path is None:
        return BERTH_NOT_FOUND
    if not (path.is_file() and os.access(path, os.X_OK)):
        return f"berth binary {path} is not an executable file"
    return None


_loaded: dict[str, ModuleType] = {}


def load_script(name: str) -> ModuleType:
    """Imports scripts/<name>.py (once per process) and returns the module."""
    if name in _loaded:
        return _loaded[name]
    path = SCRIPTS_DIR / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"berth_{name}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    _loaded[name] = mod
    return mod


def nearest_rank(sorted_values, p: float) -> float:
    """sorted[ceil(p/100*n) - 1], clamped: the nearest-rank percentile `berth perf` uses."""
    import math
    n = len(sorted_values)
    rank = int(math.ceil(p / 100.0 * n))
    return float(sorted_values[min(n - 1, max(0, rank - 1))])


def berth_run(berth: Path, model: Path, inputs: dict, out_dir: Path, extra: list[str] | None = None,
              timeout: float = 600):
    """Runs `berth run MODEL --input NAME=FILE ... --output-dir out_dir`.

    `inputs` maps input names to .npy paths or to arrays (saved into out_dir's parent first).
    Returns (CompletedProcess, {file stem: array}) - the stem is safe_output_name(output name).
    """
    import numpy as np
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cmd = [str(berth), "run", str(model)]
    for k, (name, value) in enumerate(inputs.items()):
        if not isinstance(value, (str, os.PathLike)):
            f = out_dir.parent / f"{out_dir.name}.in{k}.npy"
            np.save(f, value, allow_pickle=False)
            value = f
        cmd += ["--input", f"{name}={value}"]
    cmd += ["--output-dir", str(out_dir), *(extra or [])]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    outputs = {}
    if proc.returncode == 0:
        for f in out_dir.glob("*.npy"):
            outputs[f.stem] = np.load(f, allow_pickle=False)
    return proc, outputs


def latency_stats(times_ms, batch: int) -> dict:
    """mean/p50/p90/p99 (nearest-rank) in ms and rows/s over per-run wall times, like `berth perf --json`."""
    a = sorted(float(t) for t in times_ms)
    mean = sum(a) / len(a)
    p50, p90, p99 = (nearest_rank(a, p) for p in (50, 90, 99))
    return {"mean_ms": mean, "p50_ms": p50, "p90_ms": p90, "p99_ms": p99,
            "throughput": batch / (mean / 1000.0) if mean > 0 else float("inf"), "iterations": len(a)}


class OrtTimer:
    """ONNX Runtime on CPU as the benchmarks run it: intra_op_num_threads=T, inter_op_num_threads=1,
    sequential execution, ORT_ENABLE_ALL; time_once() returns one sess.run() in ms."""

    def __init__(self, model, threads: int):
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.log_severity_level = 3
        self.sess = ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"])

    def time_once(self, feeds) -> float:
        import time
        t0 = time.perf_counter()
        self.sess.run(None, feeds)
        return (time.perf_counter() - t0) * 1000.0


def run_berth_perf(berth: Path, model: Path, batch: int, threads: int, iterations: int, warmup: int,
                   extra: list[str] | None = None, timeout: float = 1800) -> dict:
    """Runs `berth perf MODEL --batch B --threads T --iterations N --warmup W --json` and parses its JSON."""
    cmd = [str(berth), "perf", str(model), "--batch", str(batch), "--threads", str(threads),
           "--iterations", str(iterations), "--warmup", str(warmup), "--json", *(extra or [])]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"exit {proc.returncode}: {proc.stderr.strip()[-500:]}")
    for line in reversed(proc.stdout.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                break
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise RuntimeError(f"no JSON object in berth perf output: {proc.stdout[-500:]!r}")


def iterations_for_budget(budget_s: float, per_run_ms: float, lo: int, hi: int) -> int:
    """How many runs of `per_run_ms` fit in `budget_s` seconds, clamped to lo..hi (truncated to an int)."""
    return int(min(hi, max(lo, budget_s * 1000.0 / per_run_ms)))


class OrtVsBerthPoint(NamedTuple):
    """One configuration of compare_with_ort, as its plan callbacks see it."""
    model: str
    path: Path
    batch: int
    threads: int
    ort_est_ms: float          # fastest of ORT's estimate runs (at least 1e-3)
    last_ratio: float | None   # latest non-zero berth/ORT p50 ratio of this model in this call, None before one


def compare_with_ort(berth: Path, models: dict[str, Path], batches, threads_list,
                     feeds: Callable[[str, Path, int], dict],
                     ort_plan: Callable[[OrtVsBerthPoint], tuple[int, int]],
                     berth_plan: Callable[[OrtVsBerthPoint], tuple[int, int]],
                     *, estimate_runs: int = 2, ms_decimals: int = 3) -> tuple[list[dict], bool]:
    """Times every model x batch x threads with ONNX Runtime in-process and with `berth perf`.

    For each model (name -> .onnx path) and batch, `feeds(name, path, batch)` gives the ORT inputs
    (`berth perf` makes its own of the same shapes); then for each thread count:

      * ORT (OrtTimer): `estimate_runs` untimed runs, the fastest being `ort_est_ms`;
        `ort_plan(point)` -> (timed runs, further warm-up runs); the warm-ups, then the timed runs.
      * Berth: `berth_plan(point)` -> (iterations, warm-up) - it may itself run berth, e.g. a short
        probe; then run_berth_perf. An exception from either makes the row an error row (and the
        second return value True) instead of ending the loop.

    Rows, in order: {"model", "batch", "threads", "ort": latency_stats(...), "berth": the `berth perf`
    JSON or None, "ratio_p50": berth p50 / ORT p50 or None, and "error": message on error rows only}.
    Logs a progress line per row (and each failure) to stderr, milliseconds with `ms_decimals` decimals.
    Returns (rows, whether any berth run failed).
    """
    name_w = max(map(len, models), default=0) + 1
    batch_w = len(str(max(batches, default=0))) + 1
    rows, failed = [], False
    for name, path in models.items():
        last_ratio = None
        for batch in batches:
            inputs = feeds(name, path, batch)
            for threads in threads_list:
                timer = OrtTimer(path, threads)
                est_ms = max(min(timer.time_once(inputs) for _ in range(estimate_runs)), 1e-3)
                point = OrtVsBerthPoint(name, path, batch, threads, est_ms, last_ratio)
                n_ort, ort_warmup = ort_plan(point)
                for _ in range(ort_warmup):
                    timer.time_once(inputs)
                o = latency_stats([timer.time_once(inputs) for _ in range(n_ort)], batch)
                del timer  # free its threads and memory before berth runs
                row = {"model": name, "batch": batch, "threads": threads, "ort": o}
                n_berth = None
                try:
                    n_berth, berth_warmup = berth_plan(point)
                    b = run_berth_perf(berth, path, batch, threads, n_berth, berth_warmup)
                    row["berth"] = b
                    row["ratio_p50"] = b["p50_ms"] / o["p50_ms"] if o["p50_ms"] > 0 else None
                    last_ratio = row["ratio_p50"] or last_ratio
                except Exception as e:  # noqa: BLE001 - keep going; the caller reports at the end
                    failed = True
                    row.update(berth=None, ratio_p50=None, error=str(e))
                    log(f"berth perf failed for {name} batch {batch} threads {threads}: {e}")
                rows.append(row)
                d = ms_decimals
                log(f"{name:{name_w}s} b={batch:<{batch_w}d} t={threads}  ort p50 {o['p50_ms']:.{d}f} ms (n={n_ort})  "
                    + (f"berth p50 {row['berth']['p50_ms']:.{d}f} ms (n={n_berth})  ratio {row['ratio_p50']:.2f}"
                       if row["berth"] else "berth ERROR"))
    return rows, failed


def ort_comparison_table(rows: list[dict], *, model_width: int, ms_decimals: int, throughput: bool = False) -> str:
    """compare_with_ort's rows as a text table: header, rule, one line a row (no trailing newline).

    Columns: model (left-aligned in `model_width`), batch, thr, berth p50/p99 and ort p50/p99 in ms with
    `ms_decimals` decimals (berth ERR on error rows), ratio p50 ("-" if none) and, with `throughput`,
    berth rows/s.
    """
    hdr = (f"{'model':<{model_width}} {'batch':>5} {'thr':>3} {'berth p50':>10} {'berth p99':>10} "
           f"{'ort p50':>10} {'ort p99':>10} {'ratio p50':>9}" + (f" {'berth rows/s':>13}" if throughput else ""))
    lines = [hdr, "-" * len(hdr)]
    d = ms_decimals
    for r in rows:
        b = r["berth"]
        ms = (lambda k: f"{b[k]:10.{d}f}") if b else (lambda k: f"{'ERR':>10}")
        ratio = f"{r['ratio_p50']:9.2f}" if r["ratio_p50"] else f"{'-':>9}"
        line = (f"{r['model']:<{model_width}} {r['batch']:>5} {r['threads']:>3} {ms('p50_ms')} {ms('p99_ms')} "
                f"{r['ort']['p50_ms']:10.{d}f} {r['ort']['p99_ms']:10.{d}f} {ratio}")
        if throughput:
            line += f" {b['throughput']:13.0f}" if b else f" {'-':>13}"
        lines.append(line)
    return "\n".join(lines)


def safe_output_name(name: str) -> str:
    """The file stem `berth run --output-dir` uses: letters, digits, `_`, `-`, `.` kept, others -> `_`."""
    return "".join(c if (c.isalpha() or c.isdigit() or c in "_-.") else "_" for c in name)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(port: int, timeout: float = 60.0) -> bool:
    """Polls `GET /v2/health/ready` on 127.0.0.1:`port` until it answers 200; False after `timeout` seconds."""
    import time
    import urllib.request
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/health/ready", timeout=1).status == 200:
                return True
        except OSError:
            time.sleep(0.1)
    return False


def start_serve(berth: Path, args: list[str], log_path: Path, ready: str = "/v2/health/live",
                timeout: float = 60.0) -> tuple[subprocess.Popen, str]:
    """`berth serve ARGS` on a free port (gRPC off), output to `log_path`, once GET `ready` answers 200:
    (the process, its base URL). Fails with the log when the server exits or never gets ready."""
    import time
    import urllib.request
    port = free_port()
    with open(log_path, "wb") as f:
        proc = subprocess.Popen([str(berth), "serve", "--port", str(port), "--grpc-port", "0", *args],
                                stdout=f, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + timeout
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"berth serve exited with {proc.returncode}:\n{Path(log_path).read_text()}")
        try:
            if urllib.request.urlopen(base + ready, timeout=2).status == 200:
                return proc, base
        except OSError:
            pass
        if time.time() > deadline:
            stop_process(proc)
            raise AssertionError(f"berth serve not ready after {timeout:g} s:\n{Path(log_path).read_text()}")
        time.sleep(0.1)


def http_json(method: str, url: str, body=None, headers: dict | None = None, timeout: float = 60.0):
    """One HTTP request on a fresh connection: (status, the answer parsed as JSON, or None if empty or not JSON).

    A dict/list `body` is sent as JSON, bytes/str as they are. Error statuses are returned, not raised.
    """
    import http.client
    import urllib.parse
    u = urllib.parse.urlsplit(url)
    hdrs = dict(headers or {})
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=timeout)
    try:
        conn.request(method, u.path + (f"?{u.query}" if u.query else ""), body=body, headers=hdrs)
        r = conn.getresponse()
        raw = r.read()
    finally:
        conn.close()
    try:
        return r.status, (json.loads(raw) if raw else None)
    except ValueError:
        return r.status, None


def prometheus_samples(text: str, name: str) -> list[tuple[dict, float]]:
    """The samples of metric `name` (with labels) in Prometheus text format: [(labels, value)]."""
    import re
    out = []
    for m in re.finditer(rf"^{re.escape(name)}\{{([^}}]*)\}} (\S+)$", text, re.M):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        out.append((labels, float(m.group(2))))
    return out


def stop_process(proc, timeout: float = 30.0) -> None:
    """Stops a server gracefully (SIGTERM), killing it if it has not exited after `timeout` seconds."""
    import signal
    import subprocess
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
