#!/usr/bin/env python3
"""Registry serving benchmarks of `berth serve --registry` (docs/registry.md), measured with `berth bench`.

Both parts use the bundled digits models, which share one signature (input FP32 [-1,64]; label
INT64 [-1]; probabilities FP32 [-1,10]): examples/digits_logreg.onnx (one LinearClassifier) and
examples/digits_mlp.onnx (the MLPClassifier). Requests are batch-1 JSON bodies built by
`berth bench` from the model metadata.

1. Routing cost. digits_logreg served four ways, each measured with
   `berth bench --concurrency 1,16` (`--concurrency`), --duration-seconds per level:
     (a) repository  `berth serve --model-repository REPO` (REPO/digits_logreg/1/model.onnx);
     (b) production  `berth registry push` + `berth registry promote 1` into a fresh data dir,
                     then `berth serve --registry`: every request goes through the routing table;
     (c) canary 10 % a second version with the same bytes (v2) aliased `candidate` and
                     PUT /api/v1/models/digits_logreg/traffic {"canary": candidate 10 %};
     (d) shadow 100 % the canary cleared, v2 aliased `shadow` and mirrored for every request
                     (the shadow runs after the caller got its answer, on the same CPU).
   (b)-(d) are one server whose traffic is changed through the admin API between runs; both
   servers stay up and the four setups are measured in 3 interleaved rounds (duration/3 each), so
   machine drift hits them alike: throughput is the rounds' mean, p50/p99 their median. Prints
   throughput and p50/p99 per concurrency and the ratios of (b), (c), (d) to (a) (p50: > 1 is
   slower than the repository; infer/s: < 1 is slower), plus the observed canary share and the
   shadow outcomes (from the deltas of berth_routed_requests_total / berth_shadow_requests_total).
2. Hot swap under load. A registry with model `digits`: v1 = digits_logreg.onnx, v2 =
   digits_mlp.onnx, production = v1. After one unloaded promote/rollback cycle (to check the API
   and size the run), a steady-state `berth bench --concurrency 16` of --swap-duration-seconds,
   then the same bench started in the background while --cycles (20) cycles of
   POST /api/v1/models/digits/promote {"version": 2} and POST .../rollback are issued, the 40
   calls spread evenly over the middle 80 % of the run. Each call is timed from sending to its
   answer: the API answers after the new version is loaded, warmed and switched in, so that is
   the time until the new version serves; one inference right after each call checks that it
   names the new version (`model_version`). Reports the admin call durations (p50, max), the
   bench's error count (must be 0: any error is a request dropped by a swap) and its p50/p99
   and throughput against the steady state. During the swaps about half the requests run on v2,
   the larger MLP, so some of the latency difference is the model, not the swap; the requests
   per version are printed.

Every server is started on 127.0.0.1 and a free port, waited for, measured and stopped (also on
errors); server logs go to a temporary work dir, kept (and printed) when something failed. Exit
status 1 when any bench request failed, an admin call failed or a check after a call saw the
wrong version. The machine is shared: compare numbers within one run only; a debug build's
numbers mean nothing.

Usage: python bench/registry.py [--berth PATH] [--duration-seconds 5] [--concurrency 1,16]
         [--cycles 20] [--swap-duration-seconds S] [--poll-interval-ms 1000] [--json]
"""
from __future__ import annotations

import argparse
import json
import math
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import berthpy  # noqa: E402
import server_vs_mlserver as svm  # noqa: E402  (Server, find_berth, log)
import serving  # noqa: E402  (bench, serve, link_model)

REPO = berthpy.REPO_ROOT
LOGREG = REPO / "examples" / "digits_logreg.onnx"
MLP = REPO / "examples" / "digits_mlp.onnx"
ROUTING_MODEL = "digits_logreg"
SWAP_MODEL = "digits"
BENCH_WARMUP = 2  # berth bench's default untimed requests per loop
SETUPS = [("repository", "(a) repository"), ("production", "(b) registry production"),
          ("canary", "(c) registry + 10 % canary"), ("shadow", "(d) registry + 100 % shadow")]


def registry_cli(berth: Path, data: Path, *args: str) -> str:
    """`berth registry ARGS --data-dir DATA`; raises with its output when it fails."""
    argv = [str(berth), "registry", *args, "--data-dir", str(data), "--by", "bench"]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        raise RuntimeError(f"{shlex.join(argv)} -> exit {p.returncode}\n{p.stderr}{p.stdout}")
    return p.stdout


def registry_server(berth: Path, data: Path, name: str, model: str, log_dir: Path, poll_ms: int) -> svm.Server:
    port = berthpy.free_port()
    argv = [str(berth), "serve", "--registry", "--data-dir", str(data), "--host", "127.0.0.1", "--port", str(port),
            "--poll-interval-ms", str(poll_ms)]
    return svm.Server(name, argv, REPO, port, log_dir, timeout=120, model=model)


def api(base: str, method: str, path: str, body=None, want: int = 200):
    """An admin API call; raises on an unexpected status."""
    status, doc = berthpy.http_json(method, f"{base}/api/v1{path}", body,
                                    headers={"x-berth-actor": "bench/registry.py"})
    if status != want:
        raise RuntimeError(f"{method} /api/v1{path} -> {status} {doc}")
    return doc


def counters(base: str, model: str) -> dict:
    """{(metric, label...): value} of the routing and shadow counters of `model`."""
    import urllib.request
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as r:
        text = r.read().decode()
    out = {}
    for labels, v in berthpy.prometheus_samples(text, "berth_routed_requests_total"):
        if labels.get("model") == model:
            out[("routed", labels.get("version"), labels.get("route"))] = v
    for labels, v in berthpy.prometheus_samples(text, "berth_shadow_requests_total"):
        if labels.get("model") == model:
            out[("shadow", labels.get("version"), labels.get("outcome"))] = v
    return out


def delta(before: dict, after: dict) -> dict:
    return {k: after[k] - before.get(k, 0.0) for k in after if after[k] - before.get(k, 0.0)}


def infer_one(base: str, model: str) -> tuple[int, str | None]:
    """One batch-1 inference: (status, model_version of the answer)."""
    body = {"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32", "data": [1.0] * 64}]}
    status, doc = berthpy.http_json("POST", f"{base}/v2/models/{model}/infer", body, timeout=30)
    return status, (str(doc.get("model_version")) if isinstance(doc, dict) else None)


# ---- 1. routing cost ---------------------------------------------------------------------------

def measure_setup(berth: Path, base: str, setup: str, levels: list[int], duration: float) -> tuple[list[dict], dict]:
    """berth bench per concurrency level; also the routed/shadow counter deltas over the whole setup."""
    c0 = counters(base, ROUTING_MODEL)
    rows = []
    for c in levels:
        b = serving.bench(berth, base, ROUTING_MODEL, c, duration)
        rows.append({"setup": setup, "concurrency": c, "infer_per_sec": b["infer_per_sec"], "p50_ms": b["p50_ms"],
                     "p99_ms": b["p99_ms"], "requests": b["requests"], "errors": b["errors"],
                     "first_error": b.get("first_error")})
    time.sleep(0.2)  # let the last shadow runs finish before reading their counters
    d = delta(c0, counters(base, ROUTING_MODEL))
    routed = {f"v{k[1]} {k[2]}": int(v) for k, v in d.items() if k[0] == "routed"}
    shadow = {f"v{k[1]} {k[2]}": int(v) for k, v in d.items() if k[0] == "shadow"}
    extra = {"routed": routed, "shadow": shadow}
    return rows, extra


def routing_cost(berth: Path, work: Path, levels: list[int], duration: float, poll_ms: int, rounds: int = 3) -> dict:
    """The four setups, both servers up at once, measured in `rounds` interleaved rounds of
    duration/rounds each (the shared machine drifts: one setup after the other measured the drift).
    Per setup and level: throughput averaged over rounds, p50/p99 the median of the rounds'."""
    repo = work / "repo"
    serving.link_model(repo, ROUTING_MODEL, LOGREG)
    data = work / "routing-data"
    registry_cli(berth, data, "push", ROUTING_MODEL, str(LOGREG), "--reason", "bench v1")
    registry_cli(berth, data, "push", ROUTING_MODEL, str(LOGREG), "--reason", "bench v2, same bytes")
    registry_cli(berth, data, "promote", ROUTING_MODEL, "1")
    registry_cli(berth, data, "alias", ROUTING_MODEL, "candidate", "2")
    registry_cli(berth, data, "alias", ROUTING_MODEL, "shadow", "2")
    setups = [("repository", None),
              ("production", {"canary": None, "shadow": None}),
              ("canary", {"canary": {"alias": "candidate", "percent": 10}, "shadow": None}),
              ("shadow", {"canary": None, "shadow": {"alias": "shadow", "percent": 100}})]
    runs: dict[str, list[dict]] = {name: [] for name, _ in setups}
    info: dict = {name: {"routed": {}, "shadow": {}} for name, _ in setups}
    with serving.serve(berth, repo, "repository", ROUTING_MODEL, work) as a, \
            registry_server(berth, data, "registry-routing", ROUTING_MODEL, work, poll_ms) as b:
        for _ in range(rounds):
            for name, traffic in setups:
                if traffic is not None:
                    api(b.base, "PUT", f"/models/{ROUTING_MODEL}/traffic", traffic)
                r, extra = measure_setup(berth, a.base if traffic is None else b.base, name, levels, duration / rounds)
                runs[name] += r
                for kind in ("routed", "shadow"):
                    for k, v in extra[kind].items():
                        info[name][kind][k] = info[name][kind].get(k, 0) + v
    routed = info["canary"]["routed"]
    if sum(routed.values()):
        info["canary"]["canary_share"] = sum(v for k, v in routed.items() if k.endswith(" canary")) / sum(routed.values())

    def median(xs: list[float]) -> float:
        xs = sorted(xs)
        return xs[len(xs) // 2] if len(xs) % 2 else (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2

    rows = []
    for name, _ in setups:
        for c in levels:
            rs = [r for r in runs[name] if r["concurrency"] == c]
            rows.append({"setup": name, "concurrency": c, "rounds": len(rs),
                         "infer_per_sec": sum(r["infer_per_sec"] for r in rs) / len(rs),
                         "p50_ms": median([r["p50_ms"] for r in rs]), "p99_ms": median([r["p99_ms"] for r in rs]),
                         "requests": sum(r["requests"] for r in rs), "errors": sum(r["errors"] for r in rs),
                         "first_error": next((r["first_error"] for r in rs if r.get("first_error")), None)})
    base = {row["concurrency"]: row for row in rows if row["setup"] == "repository"}
    for row in rows:
        ref = base.get(row["concurrency"])
        row["p50_ratio"] = row["p50_ms"] / ref["p50_ms"] if ref and ref["p50_ms"] else None
        row["throughput_ratio"] = row["infer_per_sec"] / ref["infer_per_sec"] if ref and ref["infer_per_sec"] else None
    return {"rows": rows, "traffic": info}


# ---- 2. hot swap under load --------------------------------------------------------------------

def admin_call(base: str, action: str, expect: int) -> dict:
    """One promote (to `expect`) or rollback, timed; then one inference that must come from `expect`."""
    body = {"version": expect, "reason": "bench hot swap"} if action == "promote" else {"reason": "bench hot swap"}
    t = time.perf_counter()
    status, doc = berthpy.http_json("POST", f"{base}/api/v1/models/{SWAP_MODEL}/{action}", body,
                                    headers={"x-berth-actor": "bench/registry.py"}, timeout=120)
    ms = (time.perf_counter() - t) * 1000
    call = {"action": action, "expect": expect, "ms": ms, "status": status,
            "to": doc.get("to") if isinstance(doc, dict) else None}
    if status != 200:
        call["error"] = doc
    infer_status, served = infer_one(base, SWAP_MODEL)
    call["check_status"], call["served_version"] = infer_status, served
    call["ok"] = status == 200 and call["to"] == expect and infer_status == 200 and served == str(expect)
    return call


def cycle(base: str) -> list[dict]:
    return [admin_call(base, "promote", 2), admin_call(base, "rollback", 1)]


def start_bench(berth: Path, base: str, model: str, concurrency: int, duration: float) -> subprocess.Popen:
    argv = [str(berth), "bench", "--url", base, "--model", model, "--concurrency", str(concurrency),
            "--duration-seconds", str(duration), "--json"]
    svm.log("  " + shlex.join(argv) + "  (background)")
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def routed_total(base: str) -> float:
    return sum(v for k, v in counters(base, SWAP_MODEL).items() if k[0] == "routed")


def hot_swap(berth: Path, work: Path, cycles: int, duration: float | None, min_duration: float,
             concurrency: int, poll_ms: int) -> dict:
    data = work / "swap-data"
    registry_cli(berth, data, "push", SWAP_MODEL, str(LOGREG), "--reason", "bench v1: logistic regression")
    registry_cli(berth, data, "push", SWAP_MODEL, str(MLP), "--reason", "bench v2: MLP")
    registry_cli(berth, data, "promote", SWAP_MODEL, "1")
    out: dict = {"model": SWAP_MODEL, "cycles": cycles, "concurrency": concurrency}
    with registry_server(berth, data, "registry-swap", SWAP_MODEL, work, poll_ms) as s:
        calibration = cycle(s.base)
        out["unloaded_calls"] = calibration
        if not all(c["ok"] for c in calibration):
            raise RuntimeError(f"promote/rollback without load failed: {calibration}")
        if duration is None:  # room for the 2*cycles calls (and their checks) at 10x their unloaded time
            per_call = max(c["ms"] for c in calibration) / 1000 * 10 + 0.05
            duration = float(max(min_duration, math.ceil(2 * cycles * per_call / 0.8)))
        out["duration_seconds"] = duration

        steady = serving.bench(berth, s.base, SWAP_MODEL, concurrency, duration)
        out["steady"] = steady

        r0 = routed_total(s.base)
        proc = start_bench(berth, s.base, SWAP_MODEL, concurrency, duration)
        calls: list[dict] = []
        try:
            deadline = time.monotonic() + 30  # the warm-up requests are through: the measured run begins
            while routed_total(s.base) - r0 < concurrency * BENCH_WARMUP and time.monotonic() < deadline \
                    and proc.poll() is None:
                time.sleep(0.02)
            t0 = time.monotonic()
            n = 2 * cycles
            for j in range(n):
                at = t0 + duration * (0.1 + 0.8 * j / n)
                time.sleep(max(0.0, at - time.monotonic()))
                action, expect = ("promote", 2) if j % 2 == 0 else ("rollback", 1)
                calls.append(admin_call(s.base, action, expect))
                calls[-1]["returned_at_s"] = time.monotonic() - t0
            out["bench_running_after_last_call"] = proc.poll() is None
            stdout, stderr = proc.communicate(timeout=duration + 120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        out["calls"] = calls
        out["bench_exit"] = proc.returncode
        if stderr.strip():
            out["bench_stderr"] = stderr.strip()[-2000:]
        try:
            out["swapping"] = json.loads(stdout)[0]
        except (ValueError, IndexError):
            out["swapping"] = None
            out["bench_stdout"] = stdout[-2000:]
        # Which model answered: v2 (the MLP) is production from a promote's return to the next
        # rollback's (per-version metric series restart when a version is reloaded, docs/metrics.md,
        # so they cannot count requests per version across swaps).
        v2 = sum(min(duration, b["returned_at_s"]) - min(duration, a["returned_at_s"])
                 for a, b in zip(calls[0::2], calls[1::2]))
        out["v2_time_share"] = v2 / duration

    ms = sorted(c["ms"] for c in calls)
    out["admin_ms"] = {"p50": berthpy.nearest_rank(ms, 50), "max": ms[-1]} if ms else None
    for action in ("promote", "rollback"):
        a = sorted(c["ms"] for c in calls if c["action"] == action)
        out[f"{action}_ms"] = {"p50": berthpy.nearest_rank(a, 50), "max": a[-1]} if a else None
    out["failed_calls"] = [c for c in calls if not c["ok"]]
    sw = out["swapping"]
    out["errors"] = sw["errors"] if sw else None
    if sw and steady:
        out["p50_ratio"] = sw["p50_ms"] / steady["p50_ms"] if steady["p50_ms"] else None
        out["p99_ratio"] = sw["p99_ms"] / steady["p99_ms"] if steady["p99_ms"] else None
        out["throughput_ratio"] = sw["infer_per_sec"] / steady["infer_per_sec"] if steady["infer_per_sec"] else None
    return out


# ---- report ------------------------------------------------------------------------------------

def fmt(v, spec: str, width: int) -> str:
    return format(v, spec).rjust(width) if v is not None else "-".rjust(width)


def print_report(result: dict) -> None:
    if result["debug_build"]:
        print("*** DEBUG BUILD of berth: the numbers below are not representative (use -c release) ***\n")
    rc = result["routing"]
    print(f"1. Routing cost: {ROUTING_MODEL}, batch 1, JSON, {result['duration_seconds']:g} s per level in 3 "
          "interleaved rounds (ratios against (a) at the same concurrency)")
    print(f"{'setup':<30}{'conc':>5}{'infer/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"
          f"{'p50 / (a)':>11}{'infer/s / (a)':>15}")
    labels = dict(SETUPS)
    for r in rc["rows"]:
        print(f"{labels[r['setup']]:<30}{r['concurrency']:>5}{r['infer_per_sec']:>10.0f}{r['p50_ms']:>9.3f}"
              f"{r['p99_ms']:>9.3f}{r['errors']:>8}{fmt(r['p50_ratio'], '.2f', 11)}{fmt(r['throughput_ratio'], '.2f', 15)}")
        if r["errors"]:
            print(f"    first error: {r.get('first_error')}")
    t = rc["traffic"]
    share = t["canary"].get("canary_share")
    print(f"canary share observed: {share * 100:.1f} % (configured 10 %)" if share is not None else
          "canary share observed: -")
    print(f"shadow outcomes: {t['shadow']['shadow'] or 'none recorded'}")

    hs = result["hot_swap"]
    print(f"\n2. Hot swap under load: {hs['model']} v1 ({LOGREG.name}) <-> v2 ({MLP.name}), {hs['cycles']} cycles of "
          f"promote v2 + rollback, berth bench --concurrency {hs['concurrency']} for {hs['duration_seconds']:g} s")
    unl = hs["unloaded_calls"]
    print(f"admin calls without load: promote {unl[0]['ms']:.1f} ms, rollback {unl[1]['ms']:.1f} ms")
    for key, name in (("admin_ms", "all"), ("promote_ms", "promote"), ("rollback_ms", "rollback")):
        v = hs[key]
        if v:
            print(f"admin calls under load ({name:<8}): p50 {v['p50']:.1f} ms, max {v['max']:.1f} ms")
    if not hs.get("bench_running_after_last_call", True):
        print("WARNING: the bench had ended before the last admin call returned: raise --swap-duration-seconds")
    print(f"v2 ({MLP.name}) was production for {hs['v2_time_share'] * 100:.0f} % of the run with swaps")
    print(f"{'':<14}{'infer/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'requests':>10}{'errors':>8}")
    for name, r in (("steady state", hs["steady"]), ("with swaps", hs["swapping"])):
        if r:
            print(f"{name:<14}{r['infer_per_sec']:>10.0f}{r['p50_ms']:>9.3f}{r['p99_ms']:>9.3f}{r['requests']:>10}"
                  f"{r['errors']:>8}")
        else:
            print(f"{name:<14} no result (bench exit {hs['bench_exit']}): {hs.get('bench_stderr', '')}")
    if hs["swapping"]:
        print(f"{'swaps/steady':<14}{fmt(hs.get('throughput_ratio'), '.2f', 10)}{fmt(hs.get('p50_ratio'), '.2f', 9)}"
              f"{fmt(hs.get('p99_ratio'), '.2f', 9)}")
    print()
    print(f">>> BENCH ERRORS DURING SWAPS: {hs['errors'] if hs['errors'] is not None else 'NO RESULT'} <<<")
    if hs["swapping"] and hs["swapping"].get("first_error"):
        print(f"    first error: {hs['swapping']['first_error']}")
    if hs["failed_calls"]:
        print(f">>> FAILED ADMIN CALLS / WRONG VERSION AFTER A CALL: {len(hs['failed_calls'])} <<<")
        for c in hs["failed_calls"][:5]:
            print(f"    {c}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--berth", help="berth binary (default: $BERTH_BIN, .build/release/berth, .build/debug/berth)")
    ap.add_argument("--duration-seconds", type=float, default=5.0,
                    help="measured seconds per berth bench level in part 1 (default 5)")
    ap.add_argument("--concurrency", default="1,16", help="part 1 concurrency levels (default 1,16)")
    ap.add_argument("--cycles", type=int, default=20, help="part 2 promote+rollback cycles (default 20)")
    ap.add_argument("--swap-concurrency", type=int, default=16, help="part 2 bench concurrency (default 16)")
    ap.add_argument("--swap-duration-seconds", type=float,
                    help="part 2 length of each bench (default: max(2 x --duration-seconds, 5 s, room for the "
                         "calls at 10x their unloaded time))")
    ap.add_argument("--poll-interval-ms", type=int, default=1000, help="berth serve --registry --poll-interval-ms")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    args = ap.parse_args(argv)
    berth = svm.find_berth(args.berth)
    if not berth.exists():
        sys.exit(f"berth binary {berth} does not exist")
    berth = berth.absolute()  # the servers run in the repository root
    debug = "debug" in str(berth)
    if debug:
        svm.log("WARNING: a debug build of berth; its numbers mean nothing. Use -c release.")
    levels = [int(c) for c in args.concurrency.split(",")]

    work = Path(tempfile.mkdtemp(prefix="berth-registry-bench-"))
    svm.log(f"work dir {work}")
    ok = False
    try:
        result = {"berth": str(berth), "debug_build": debug, "duration_seconds": args.duration_seconds}
        result["routing"] = routing_cost(berth, work, levels, args.duration_seconds, args.poll_interval_ms)
        result["hot_swap"] = hot_swap(berth, work, args.cycles, args.swap_duration_seconds,
                                      max(2 * args.duration_seconds, 5.0), args.swap_concurrency,
                                      args.poll_interval_ms)
        hs = result["hot_swap"]
        routing_errors = sum(r["errors"] for r in result["routing"]["rows"])
        ok = hs["errors"] == 0 and hs["steady"]["errors"] == 0 and not hs["failed_calls"] and routing_errors == 0
        result["ok"] = ok
        if args.json:
            print(json.dumps(result, indent=2))
        else:
            print_report(result)
            if routing_errors:
                print(f">>> BENCH ERRORS IN PART 1: {routing_errors} <<<")
    finally:
        if ok:
            shutil.rmtree(work, ignore_errors=True)
        else:
            svm.log(f"something failed: server logs kept in {work}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
