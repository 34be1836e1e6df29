"""OpenTelemetry traces: `berth serve --otel-endpoint` exports one trace per inference to an OTLP/HTTP
collector — here a tiny receiver in the test (OTLP/HTTP with JSON bodies, the `http/json`
protocol). A request's W3C `traceparent` (REST header or gRPC metadata) is the parent of its
`infer` server span; `decode`, `queue`, `compute` and `encode` are children of `infer`, inside it."""
from __future__ import annotations

import base64
import json
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient

import berthpy
from conftest import berth_path

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "digits_sample.npy"


class Collector:
    """Collects the spans POSTed to /v1/traces."""

    def __init__(self):
        self.spans: list[dict] = []
        self.paths: list[str] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                collector.paths.append(self.path)
                doc = json.loads(body)
                for rs in doc.get("resourceSpans", []):
                    for ss in rs.get("scopeSpans", []):
                        collector.spans.extend(ss.get("spans", []))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


def _hex(v: str) -> str:
    """OTLP/JSON ids are hex; a protobuf-JSON encoder writes base64: accept both."""
    if len(v) in (16, 32) and all(c in "0123456789abcdefABCDEF" for c in v):
        return v.lower()
    return base64.b64decode(v).hex()


def test_traces_reach_an_otlp_collector_with_the_callers_parent(tmp_path):
    collector = Collector()
    port, gport = berthpy.free_port(), berthpy.free_port()
    proc = subprocess.Popen([str(berth_path()), "serve", "--insecure-no-auth", "--demo", "--port", str(port), "--grpc-port", str(gport),
                             "--otel-endpoint", collector.url, "--otel-protocol", "http/json"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for line in proc.stdout:
            if "models loaded" in line:
                break
        else:
            raise AssertionError(f"berth serve exited with {proc.wait()}")
        threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
        x = np.load(SAMPLE).astype(np.float32)[:3]
        parents = {}
        h = httpclient.InferenceServerClient(f"127.0.0.1:{port}")
        for k in range(3):
            trace_id, span_id = f"{k + 1:032x}", f"{k + 17:016x}"
            parents[trace_id] = span_id
            i = httpclient.InferInput("input", list(x.shape), "FP32")
            i.set_data_from_numpy(x)
            h.infer("digits", [i], headers={"traceparent": f"00-{trace_id}-{span_id}-01"})
        g = grpcclient.InferenceServerClient(f"127.0.0.1:{gport}")
        gi = grpcclient.InferInput("input", list(x.shape), "FP32")
        gi.set_data_from_numpy(x)
        trace_id, span_id = "a" * 32, "b" * 16
        parents[trace_id] = span_id
        g.infer("digits", [gi], headers={"traceparent": f"00-{trace_id}-{span_id}-01"})
        h.infer("digits", [i])  # no traceparent: a trace of its own
        deadline = time.time() + 20
        while time.time() < deadline and sum(s["name"] == "infer" for s in collector.spans) < 5:
            time.sleep(0.1)
        infers = [s for s in collector.spans if s["name"] == "infer"]
        assert len(infers) == 5, [s["name"] for s in collector.spans]
        assert set(collector.paths) == {"/v1/traces"}
        by_trace = {_hex(s["traceId"]): s for s in infers}
        for trace_id, parent in parents.items():
            root = by_trace[trace_id]
            assert _hex(root["parentSpanId"]) == parent
            assert root["kind"] in (2, "SPAN_KIND_SERVER")
            attrs = {a["key"]: a["value"] for a in root.get("attributes", [])}
            assert attrs["berth.model"] == {"stringValue": "digits"}
            children = [s for s in collector.spans if _hex(s["traceId"]) == trace_id and s is not root]
            assert sorted(c["name"] for c in children) == ["compute", "decode", "encode", "queue"], children
            start, end = int(root["startTimeUnixNano"]), int(root["endTimeUnixNano"])
            for c in children:
                assert _hex(c["parentSpanId"]) == _hex(root["spanId"])
                # Queue and compute are placed back from the batcher's durations: allow 1 ms.
                assert start - 1_000_000 <= int(c["startTimeUnixNano"]) <= int(c["endTimeUnixNano"]) <= end + 1_000_000, c["name"]
        own = [s for s in infers if _hex(s["traceId"]) not in parents]
        assert len(own) == 1 and not own[0].get("parentSpanId")
    finally:
        berthpy.stop_process(proc)
        collector.server.shutdown()


def test_triton_trace_settings_choose_which_requests_are_traced(tmp_path):
    """tritonclient's get/update_trace_settings: trace_rate N traces every N-th request, trace_count
    limits the traces left, trace_level OFF stops them; counted at the collector."""
    collector = Collector()
    port = berthpy.free_port()
    proc = subprocess.Popen([str(berth_path()), "serve", "--insecure-no-auth", "--demo", "--port", str(port), "--grpc-port", "0",
                             "--otel-endpoint", collector.url, "--otel-protocol", "http/json"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for line in proc.stdout:
            if "models loaded" in line:
                break
        threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
        h = httpclient.InferenceServerClient(f"127.0.0.1:{port}")
        assert "trace" in h.get_server_metadata()["extensions"]
        assert h.get_trace_settings() == {"trace_level": ["TIMESTAMPS"], "trace_rate": "1", "trace_count": "-1",
                                          "log_frequency": "0", "trace_file": "", "trace_mode": "opentelemetry"}
        x = np.load(SAMPLE).astype(np.float32)[:1]
        i = httpclient.InferInput("input", list(x.shape), "FP32")
        i.set_data_from_numpy(x)

        def traced(n: int, expect: int) -> int:
            """Sends n requests; the traces that arrived once `expect` did (or 15 s passed), plus any
            stragglers a second later (the exporter sends batches every 200 ms)."""
            def count() -> int:
                return sum(s["name"] == "infer" for s in collector.spans)
            before = count()
            for _ in range(n):
                h.infer("digits", [i])
            deadline = time.time() + 15
            while time.time() < deadline and count() - before < expect:
                time.sleep(0.1)
            time.sleep(1.0)
            return count() - before

        assert h.update_trace_settings(settings={"trace_rate": "3"})["trace_rate"] == "3"
        assert traced(9, 3) == 3
        assert h.update_trace_settings(settings={"trace_level": ["OFF"]})["trace_level"] == ["OFF"]
        assert traced(4, 0) == 0
        h.update_trace_settings(settings={"trace_level": ["TIMESTAMPS"], "trace_rate": "1", "trace_count": "2"})
        assert traced(5, 2) == 2
        assert h.get_trace_settings()["trace_count"] == "0"
        for bad in ({"trace_level": ["TENSORS"]}, {"trace_rate": "0"}, {"trace_file": "/tmp/t.json"}, {"nope": "1"}):
            status, doc = berthpy.http_json("POST", f"http://127.0.0.1:{port}/v2/trace/setting", bad)
            assert status == 400 and doc["error"], (bad, status, doc)
    finally:
        berthpy.stop_process(proc)
        collector.server.shutdown()
    # Without an exporter nothing is traced, and tracing cannot be switched on.
    port = berthpy.free_port()
    proc = subprocess.Popen([str(berth_path()), "serve", "--insecure-no-auth", "--demo", "--port", str(port), "--grpc-port", "0"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        assert berthpy.wait_ready(port)
        assert berthpy.http_json("GET", f"http://127.0.0.1:{port}/v2/trace/setting")[1]["trace_level"] == ["OFF"]
        status, doc = berthpy.http_json("POST", f"http://127.0.0.1:{port}/v2/trace/setting", {"trace_level": ["TIMESTAMPS"]})
        assert status == 400 and "--otel-endpoint" in doc["error"]
    finally:
        berthpy.stop_process(proc)
