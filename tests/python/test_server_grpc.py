"""The gRPC Open Inference Protocol (inference.GRPCInferenceService) driven by tritonclient.grpc
against the real binary: health, metadata, inference equal to the REST answer, error statuses,
repository index and statistics. Needs tritonclient[grpc] (grpcio, scripts/requirements.txt)."""
from __future__ import annotations

import re
import subprocess
import time

import numpy as np
import pytest

import berthpy
from conftest import berth_path

grpcclient = pytest.importorskip("tritonclient.grpc", reason="tritonclient[grpc] (grpcio) is not installed")
import tritonclient.http as httpclient  # noqa: E402
from tritonclient.utils import InferenceServerException  # noqa: E402

from pathlib import Path  # noqa: E402

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "digits_sample.npy"


@pytest.fixture(scope="module")
def server():
    port, gport = berthpy.free_port(), berthpy.free_port()
    proc = subprocess.Popen([str(berth_path()), "serve", "--insecure-no-auth", "--demo", "--port", str(port), "--grpc-port", str(gport)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 120
    for line in proc.stdout:
        if "listening" in line and "grpc_port" in line:
            assert re.search(r"grpc_port=(\d+)", line).group(1) == str(gport)
            break
        if time.time() > deadline:
            break
    else:
        pytest.fail(f"berth serve exited with {proc.wait()}")
    client = grpcclient.InferenceServerClient(f"127.0.0.1:{gport}")
    while not client.is_server_ready() and time.time() < deadline:
        time.sleep(0.1)
    yield client, httpclient.InferenceServerClient(f"127.0.0.1:{port}"), gport
    berthpy.stop_process(proc)


def test_health_and_metadata(server):
    c, _, _ = server
    assert c.is_server_live() and c.is_server_ready() and c.is_model_ready("digits")
    assert not c.is_model_ready("nope")
    assert c.get_server_metadata().name == "berth"
    md = c.get_model_metadata("digits")
    assert md.versions == ["1"] and md.inputs[0].datatype == "FP32" and list(md.inputs[0].shape) == [-1, 64]


def test_infer_matches_rest(server):
    c, h, _ = server
    x = np.load(SAMPLE).astype(np.float32)[:4]
    gi = grpcclient.InferInput("input", list(x.shape), "FP32")
    gi.set_data_from_numpy(x)
    hi = httpclient.InferInput("input", list(x.shape), "FP32")
    hi.set_data_from_numpy(x)
    g, r = c.infer("digits", [gi]), h.infer("digits", [hi])
    for name in ("label", "probabilities"):
        np.testing.assert_array_equal(g.as_numpy(name), r.as_numpy(name))
    assert g.as_numpy("label").dtype == np.int64
    only = c.infer("digits", [gi], outputs=[grpcclient.InferRequestedOutput("label")])
    assert only.as_numpy("probabilities") is None and only.as_numpy("label") is not None


def test_errors_map_to_grpc_status(server):
    c, _, _ = server
    x = np.zeros((4, 3), np.float32)
    bad = grpcclient.InferInput("input", [4, 3], "FP32")
    bad.set_data_from_numpy(x)
    with pytest.raises(InferenceServerException) as e:
        c.infer("digits", [bad])
    assert "INVALID_ARGUMENT" in str(e.value.status()) and "does not match" in e.value.message()
    with pytest.raises(InferenceServerException) as e:
        c.infer("nope", [bad])
    assert "NOT_FOUND" in str(e.value.status())


def test_repository_and_statistics(server):
    c, _, _ = server
    names = {m.name for m in c.get_model_repository_index().models}
    assert "digits" in names
    stats = c.get_inference_statistics("digits").model_stats[0]
    assert stats.name == "digits" and stats.inference_count >= 4
    with pytest.raises(InferenceServerException) as e:
        c.load_model("digits")
    assert "not allowed" in e.value.message()


def test_bench_over_grpc_sends_what_it_counts(server):
    """`berth bench --protocol grpc`: every counted request reached the model over gRPC (the server's
    own statistics grow by exactly the measured plus warm-up requests), with no errors."""
    import json

    c, _, gport = server

    def count() -> int:
        return c.get_inference_statistics("digits", as_json=True)["model_stats"][0]["inference_count"]

    before = count()
    out = subprocess.run([str(berth_path()), "bench", "--protocol", "grpc", "--url", f"127.0.0.1:{gport}", "--model", "digits",
                          "--concurrency", "1,3", "--requests", "25", "--warmup", "2", "--json"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    levels = json.loads(out.stdout)
    assert [(r["concurrency"], r["requests"], r["errors"]) for r in levels] == [(1, 25, 0), (3, 25, 0)]
    assert int(count()) - int(before) == 25 * 2 + 2 * (1 + 3)
    bad = subprocess.run([str(berth_path()), "bench", "--protocol", "grpc", "--url", f"127.0.0.1:{gport}", "--model", "nope",
                          "--requests", "3"], capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "unknown model 'nope'" in bad.stderr


def test_bench_over_grpc_sends_a_1_mib_request(server):
    """A 4096-row batch is a ~1 MiB ModelInfer message, 16 times HTTP/2's initial 64 KiB window: `berth
    bench --protocol grpc` sends it whole (flow control) from several loops, and the server counts each one."""
    import json

    c, _, gport = server

    def rows() -> int:
        # Triton's inference_count counts rows; proto3 JSON leaves a zero count out.
        return int(c.get_inference_statistics("digits", as_json=True)["model_stats"][0].get("inference_count", 0))

    before = rows()
    out = subprocess.run([str(berth_path()), "bench", "--protocol", "grpc", "--url", f"127.0.0.1:{gport}", "--model", "digits",
                          "--batch", "4096", "--concurrency", "1,4", "--requests", "8", "--warmup", "1", "--json"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    levels = json.loads(out.stdout)
    assert [(r["concurrency"], r["requests"], r["errors"], r["batch"]) for r in levels] == [(1, 8, 0, 4096), (4, 8, 0, 4096)]
    assert rows() - before == 4096 * (8 * 2 + 1 * (1 + 4))


@pytest.mark.parametrize("how", ["graceful", "killed"])
def test_bench_over_grpc_survives_the_server_stopping(how):
    """The server stops during a `berth bench --protocol grpc` level (SIGTERM: GOAWAY and a graceful
    close; SIGKILL: the connections just drop): the bench does not hang, and counts the calls that
    found no server as errors whose first message says `unavailable`."""
    import json
    import signal

    port, gport = berthpy.free_port(), berthpy.free_port()
    proc = subprocess.Popen([str(berth_path()), "serve", "--insecure-no-auth", "--demo", "--port", str(port), "--grpc-port", str(gport),
                             "--log-level", "error"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        assert berthpy.wait_ready(port)
        bench = subprocess.Popen([str(berth_path()), "bench", "--protocol", "grpc", "--url", f"127.0.0.1:{gport}", "--model", "digits",
                                  "--concurrency", "4", "--duration-seconds", "4", "--warmup", "2", "--json"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(2)
        proc.send_signal(signal.SIGTERM if how == "graceful" else signal.SIGKILL)
        out, err = bench.communicate(timeout=60)
    finally:
        berthpy.stop_process(proc)
    assert bench.returncode == 0, err
    [level] = json.loads(out)
    assert level["errors"] > 0 and level["requests"] > level["errors"], level
    assert "unavailable" in level["first_error"], level


def test_model_config_equals_the_rest_answer(server):
    c, h, _ = server
    g = c.get_model_config("digits", as_json=True)["config"]
    r = h.get_model_config("digits")
    assert g["name"] == r["name"] == "digits"
    assert g.get("max_batch_size", 0) == r["max_batch_size"] and g["platform"] == r["platform"]
    for side in ("input", "output"):
        assert [(t["name"], t["data_type"], [int(d) for d in t.get("dims", [])]) for t in g[side]] == \
               [(t["name"], t["data_type"], t["dims"]) for t in r[side]]
    with pytest.raises(InferenceServerException) as e:
        c.get_model_config("nope")
    assert "NOT_FOUND" in str(e.value.status())


def test_stream_infer_answers_every_request_in_order(server):
    """tritonclient's bidirectional stream: each request answered once, in order, equal to REST's
    answer for the same rows; a bad request answers with an error and the stream goes on."""
    import queue

    c, h, _ = server
    x = np.load(SAMPLE).astype(np.float32)
    answers: queue.Queue = queue.Queue()
    c.start_stream(callback=lambda result, error: answers.put((result, error)))
    try:
        for k in range(4):
            i = grpcclient.InferInput("input", [2, 64], "FP32")
            i.set_data_from_numpy(x[2 * k:2 * k + 2])
            c.async_stream_infer("digits", [i], request_id=f"r{k}")
        bad = grpcclient.InferInput("input", [1, 3], "FP32")
        bad.set_data_from_numpy(np.zeros((1, 3), np.float32))
        c.async_stream_infer("digits", [bad], request_id="bad")
        got = [answers.get(timeout=30) for _ in range(5)]
    finally:
        c.stop_stream()
    for k, (result, error) in enumerate(got[:4]):
        assert error is None, error
        assert result.get_response().id == f"r{k}"
        rest = h.infer("digits", [httpclient.InferInput("input", [2, 64], "FP32").set_data_from_numpy(x[2 * k:2 * k + 2])])
        np.testing.assert_array_equal(result.as_numpy("probabilities"), rest.as_numpy("probabilities"))
        np.testing.assert_array_equal(result.as_numpy("label"), rest.as_numpy("label"))
    result, error = got[4]
    assert error is not None and "does not match" in str(error)
