#!/usr/bin/env python3
"""Serving benchmark: `berth serve` vs Seldon MLServer, both over the V2 REST protocol.

The model is the digits MLPClassifier of scripts/make_examples.py (scikit-learn, load_digits,
hidden layer 64, random_state=0):

  * Berth serves it as ONNX (converted with skl2onnx by make_examples.build_digits).
  * MLServer serves the scikit-learn estimator itself (mlserver-sklearn, model.joblib),
    trained with the same recipe by MLServer's own Python so the pickle matches its
    scikit-learn version.

Both servers get the same request bytes: `berth bench --input input=<rows>.npy` with the
first B rows of the digits test split, at concurrency 1 and 16 (`--concurrency`). The
servers run one after the other, never at the same time; each is started on a free port,
waited for (GET /v2/health/ready), benchmarked and stopped.

Prints, per (batch, concurrency), both throughputs (infer/s), p50/p99 latency and the
ratio berth/mlserver (> 1: Berth is faster). The machine is shared: only the ratios of
one run mean anything.

MLServer venv (MLServer 1.7.1 needs uvloop<0.22, SeldonIO/MLServer#2286):
  python3 -m venv /tmp/mlvenv && /tmp/mlvenv/bin/pip install mlserver mlserver-sklearn "uvloop<0.22"

Usage (see bench/README.md):
  python bench/server_vs_mlserver.py [--berth PATH] [--mlserver-python /tmp/mlvenv/bin/python]
        [--concurrency 1,16] [--batches 1] [--duration-seconds 5] [--json]
        [--only berth|mlserver] [--berth-serve-args '...'] [--mlserver-workers N]
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import berthpy  # noqa: E402

REPO_ROOT = berthpy.REPO_ROOT
MODEL_NAME = "digits"

# How `berth serve` is started. {berth}, {repo} (a Triton-style repository holding
# {name}/1/model.onnx), {model} (that .onnx), {name}, {port} are filled in.
DEFAULT_BERTH_SERVE_ARGS = "{berth} serve --model-repository {repo} --host 127.0.0.1 --port {port} --threads 1"

# Trains the MLServer copy of the model with MLServer's own Python (same recipe as
# scripts/make_examples.py build_digits) and dumps it with joblib.
TRAIN_SKLEARN = r"""
import sys, warnings, joblib, numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
X, y = load_digits(return_X_y=True)
X = X.astype(np.float32); y = y.astype(np.int64)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
clf = MLPClassifier(hidden_layer_sizes=(64,), max_iter=300, random_state=0)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    clf.fit(X_train, y_train)
joblib.dump(clf, sys.argv[1])
print(f"{clf.score(X_test, y_test):.4f}")
"""


log = berthpy.log
find_berth = berthpy.require_berth


def wait_ready(base: str, proc: subprocess.Popen, log_path: Path, timeout: float, model: str = MODEL_NAME) -> None:
    """Polls the V2 readiness endpoints until the model answers 200."""
    deadline = time.monotonic() + timeout
    urls = [f"{base}/v2/health/ready", f"{base}/v2/models/{model}/ready"]
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}; log {log_path}:\n{tail(log_path)}")
        try:
            if all(urllib.request.urlopen(u, timeout=2).status == 200 for u in urls):
                return
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.25)
    raise RuntimeError(f"server not ready after {timeout:.0f} s; log {log_path}:\n{tail(log_path)}")


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class Server:
    """A server process in its own process group, stopped (SIGINT, then SIGKILL) on exit."""

    def __init__(self, name: str, argv: list[str], cwd: Path, port: int, log_dir: Path, timeout: float,
                 model: str = MODEL_NAME):
        """`model` is the model whose readiness `with` waits for."""
        self.name, self.argv, self.cwd, self.port, self.timeout = name, argv, cwd, port, timeout
        self.model = model
        self.base = f"http://127.0.0.1:{port}"
        self.log_path = log_dir / f"{name}.log"
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "Server":
        log(f"starting {self.name}: {shlex.join(self.argv)}")
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.argv, cwd=self.cwd, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        try:
            wait_ready(self.base, self.proc, self.log_path, self.timeout, self.model)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        log(f"{self.name} ready at {self.base}")
        return self

    def __exit__(self, *exc) -> None:
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGINT)
                self.proc.wait(timeout=15)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait()
        self._log.close()


def run_bench(berth: Path, base: str, rows_file: Path, concurrency: str, duration: float, binary: bool) -> list[dict]:
    argv = [str(berth), "bench", "--url", base, "--model", MODEL_NAME, "--input", f"input={rows_file}",
            "--concurrency", concurrency, "--duration-seconds", str(duration), "--json"]
    if binary:
        argv.append("--binary")
    log("  " + shlex.join(argv))
    out = subprocess.run(argv, check=True, capture_output=True, text=True)
    if out.stderr.strip():
        log(out.stderr.strip())
    return json.loads(out.stdout)


def mlserver_repo(root: Path, mlserver_python: str, workers: int, http_port: int) -> tuple[Path, str]:
    """Writes an MLServer model repository (settings.json + digits/model-settings.json + model.joblib)."""
    model_dir = root / MODEL_NAME
    model_dir.mkdir(parents=True, exist_ok=True)
    acc = subprocess.run([mlserver_python, "-c", TRAIN_SKLEARN, str(model_dir / "model.joblib")],
                         check=True, capture_output=True, text=True).stdout.strip()
    (root / "settings.json").write_text(json.dumps({
        "debug": False,
        "host": "127.0.0.1",
        "http_port": http_port,
        "grpc_port": berthpy.free_port(),
        "metrics_port": berthpy.free_port(),
        "parallel_workers": workers,
    }, indent=2))
    (model_dir / "model-settings.json").write_text(json.dumps({
        "name": MODEL_NAME,
        "implementation": "mlserver_sklearn.SKLearnModel",
        "inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, 64]}],
        "parameters": {"uri": "./model.joblib", "version": "1"},
    }, indent=2))
    return root, acc


def mlserver_argv(mlserver_python: str, repo: Path) -> list[str]:
    exe = Path(mlserver_python).parent / "mlserver"
    return [str(exe), "start", str(repo)] if exe.exists() else [mlserver_python, "-m", "mlserver", "start", str(repo)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--berth", help="berth binary (default: $BERTH_BIN, .build/release/berth, .build/debug/berth)")
    ap.add_argument("--mlserver-python", default=os.environ.get("MLSERVER_PYTHON", "/tmp/mlvenv/bin/python"),
                    help="Python of the venv with mlserver + mlserver-sklearn (default: $MLSERVER_PYTHON or /tmp/mlvenv/bin/python)")
    ap.add_argument("--concurrency", default="1,16", help="concurrency levels for berth bench")
    ap.add_argument("--batches", default="1", help="rows per request, comma-separated (from the digits test split)")
    ap.add_argument("--duration-seconds", type=float, default=5.0, help="measured seconds per concurrency level")
    ap.add_argument("--binary", action="store_true", help="send Triton binary tensors (MLServer does not support them)")
    ap.add_argument("--mlserver-workers", type=int, default=1, help="MLServer parallel_workers (its default: 1)")
    ap.add_argument("--berth-serve-args", default=os.environ.get("BERTH_SERVE_ARGS", DEFAULT_BERTH_SERVE_ARGS),
                    help="how to start berth serve; {berth} {repo} {model} {name} {port} are filled in "
                         f"(default: '{DEFAULT_BERTH_SERVE_ARGS}')")
    ap.add_argument("--only", choices=["berth", "mlserver"], help="run one server only (no ratio)")
    ap.add_argument("--startup-timeout", type=float, default=120.0)
    ap.add_argument("--json", action="store_true", help="print a JSON array instead of a table")
    args = ap.parse_args(argv)

    batches = [int(b) for b in args.batches.split(",")]
    berth = find_berth(args.berth)
    if not berth.exists():
        sys.exit(f"berth binary {berth} does not exist")
    if args.only != "berth" and not Path(args.mlserver_python).exists():
        sys.exit(f"{args.mlserver_python} not found: create the MLServer venv (bench/README.md) "
                 "or pass --mlserver-python")
    if "debug" in str(berth):
        log("WARNING: a debug build of berth; its numbers mean nothing. Use -c release.")

    work = Path(tempfile.mkdtemp(prefix="berth-vs-mlserver-"))
    log(f"work dir {work}")
    mk = berthpy.load_script("make_examples")
    digits = mk.build_digits(work / "onnx", verbose=False)
    log(f"ONNX model {digits['model']} (test accuracy {digits['accuracy']:.4f})")

    # The request rows: the digits test split, as make_examples splits it.
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    X, y = load_digits(return_X_y=True)
    _, X_test, _, _ = train_test_split(X.astype(np.float32), y, test_size=0.25, random_state=0, stratify=y)
    rows_files = {}
    for b in batches:
        if b > len(X_test):
            sys.exit(f"--batches {b}: the test split has {len(X_test)} rows")
        rows_files[b] = work / f"rows_{b}.npy"
        np.save(rows_files[b], np.ascontiguousarray(X_test[:b], dtype=np.float32))

    results: dict[str, dict[int, list[dict]]] = {}
    if args.only != "mlserver":
        port = berthpy.free_port()
        repo = work / "berth_repo"
        (repo / MODEL_NAME / "1").mkdir(parents=True, exist_ok=True)
        onnx_path = repo / MODEL_NAME / "1" / "model.onnx"
        onnx_path.write_bytes(Path(digits["model"]).read_bytes())
        serve = args.berth_serve_args.format(berth=berth, repo=repo, model=onnx_path, name=MODEL_NAME, port=port)
        with Server("berth", shlex.split(serve), REPO_ROOT, port, work, args.startup_timeout) as s:
            results["berth"] = {b: run_bench(berth, s.base, rows_files[b], args.concurrency, args.duration_seconds,
                                             args.binary) for b in batches}
    if args.only != "berth":
        port = berthpy.free_port()
        repo, acc = mlserver_repo(work / "mlserver", args.mlserver_python, args.mlserver_workers, port)
        log(f"MLServer model {repo / MODEL_NAME / 'model.joblib'} (test accuracy {acc})")
        with Server("mlserver", mlserver_argv(args.mlserver_python, repo), repo, port, work,
                    args.startup_timeout) as s:
            results["mlserver"] = {b: run_bench(berth, s.base, rows_files[b], args.concurrency,
                                                args.duration_seconds, args.binary) for b in batches}

    rows = []
    for b in batches:
        steps = {name: {r["concurrency"]: r for r in res[b]} for name, res in results.items()}
        levels = sorted(set().union(*[set(v) for v in steps.values()]))
        for c in levels:
            row = {"batch": b, "concurrency": c}
            for name in ("berth", "mlserver"):
                r = steps.get(name, {}).get(c)
                if r:
                    row[f"{name}_infer_per_sec"] = r["infer_per_sec"]
                    row[f"{name}_p50_ms"] = r["p50_ms"]
                    row[f"{name}_p99_ms"] = r["p99_ms"]
                    row[f"{name}_errors"] = r["errors"]
            bt, mt = row.get("berth_infer_per_sec"), row.get("mlserver_infer_per_sec")
            row["ratio"] = (bt / mt) if bt and mt else None
            rows.append(row)

    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'batch':>5} {'conc':>5} {'berth inf/s':>12} {'mlserver inf/s':>15} {'ratio':>7} "
          f"{'berth p50':>10} {'mls p50':>9} {'berth p99':>10} {'mls p99':>9}  (ms; ratio = berth/mlserver throughput)")

    def f(v, fmt):
        width = int(fmt.split(".")[0])
        return format(v, fmt) if v is not None else "-".rjust(width)
    for r in rows:
        print(f"{r['batch']:>5} {r['concurrency']:>5} {f(r.get('berth_infer_per_sec'), '12.1f')} "
              f"{f(r.get('mlserver_infer_per_sec'), '15.1f')} {f(r['ratio'], '7.2f')} "
              f"{f(r.get('berth_p50_ms'), '10.3f')} {f(r.get('mlserver_p50_ms'), '9.3f')} "
              f"{f(r.get('berth_p99_ms'), '10.3f')} {f(r.get('mlserver_p99_ms'), '9.3f')}")
        for name in ("berth", "mlserver"):
            if r.get(f"{name}_errors"):
                print(f"      {name}: {r[f'{name}_errors']} errors (see berth bench's first error above)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
