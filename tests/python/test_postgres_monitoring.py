"""Monitoring state shared by replicas of one PostgreSQL registry (docs/deploy.md): three
`berth serve --registry-url … --prediction-log-sample 1` processes over one database.

Checked against independent references:
- predictions answered by replica A, labels posted to replica B: the live accuracy every replica
  reports is the same and equals scikit-learn's accuracy_score on the same rows (the predicted
  class is the argmax of y = x·W + b computed here in numpy; tolerance 1e-12), and so does the
  `berth_live_accuracy` gauge of replicas that never saw the labels (1e-9);
- the log lives in the database: no predictions.sqlite in the shared data directory, and
  `berth monitor log --registry-url` exports every request from any replica;
- a reference sample uploaded through A drives the drift replicas B and C report on traffic logged
  by B: each feature's KS statistic and p-value equal SciPy's ks_2samp on the same rows (1e-9);
  the sample is in the database (no file under the data directory), and a replacement through A
  is used by B and C at once;
- `berth registry push --reference-data --registry-url` stores the sample in the database too;
- every sample of each replica's /metrics, parsed by prometheus_client, carries `replica` = its id.

The alert state's survival of its leader is checked in test_postgres_replicas.py.
"""
from __future__ import annotations

import glob
import json
import os
import subprocess
import time

import berthpy
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families
from scipy import stats
from sklearn.metrics import accuracy_score

from conftest import berth_path
from test_postgres_replicas import cli, pg, pytestmark, setup_registry  # noqa: F401  (the fixture and the skip mark)
from test_registry_cli import IN, NAME, model_bytes
from test_registry_server import Server, reference

TOL = 1e-9


def query(url: str, sql: str) -> str:
    """One value from the replicas' database, by psql."""
    bindir = sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1]
    host, port = url.split("@")[1].split("/")[0].split(":")
    p = subprocess.run([f"{bindir}/psql", "-h", host, "-p", port, "-U", "berth", "-d", url.rsplit("/", 1)[1], "-tAc", sql],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def test_push_with_reference_data_stores_the_sample_in_postgres(pg, tmp_path):
    """`berth registry push --reference-data --registry-url` puts the sample in the database
    (nothing under --data-dir/references), where a replica reads it: drift of logged traffic
    against it equals SciPy's ks_2samp (1e-9)."""
    url, data = setup_registry(pg, tmp_path, 1)
    rng = np.random.default_rng(7)
    ref = rng.normal(size=(80, IN)).astype(np.float32)
    csv = tmp_path / "ref.csv"
    csv.write_text(",".join(f"x_{j}" for j in range(IN)) + "\n" + "".join(",".join(repr(float(v)) for v in row) + "\n" for row in ref))
    (tmp_path / "m2.onnx").write_bytes(model_bytes(2))
    cli(url, data, "push", NAME, str(tmp_path / "m2.onnx"), "--reference-data", str(csv))
    cli(url, data, "alias", NAME, "production", "2")
    assert not (data / "references").exists()
    assert query(url, f"SELECT rows FROM reference_sample WHERE model = '{NAME}' AND version = '2'") == "80"
    server = Server(data, tmp_path / "r.log", "--registry-url", url, "--prediction-log-sample", "1")
    try:
        cur = rng.normal(size=(40, IN)).astype(np.float32)
        for k in range(0, 40, 4):
            infer_with_id(server, cur[k:k + 4], f"c-{k}")
        time.sleep(0.6)  # the log's batch (0.2 s)
        d = server.api("GET", f"/models/{NAME}/drift?version=2&window=40")
        for j in range(IN):
            f = d["features"][f"x_{j}"]
            r = stats.ks_2samp(ref[:, j].astype(np.float64), cur[:, j].astype(np.float64))
            assert f["statistic"] == pytest.approx(r.statistic, abs=TOL, rel=TOL), (j, f, r)
            assert f["p_value"] == pytest.approx(r.pvalue, abs=TOL, rel=TOL), (j, f, r)
    finally:
        server.stop()


def test_a_repository_server_without_keys_logs_to_postgres(pg, tmp_path):
    """`--model-repository --registry-url --insecure-no-auth` (no keys, no --registry): the log still
    goes to the shared database, where `berth monitor log --registry-url` finds every request."""
    url, _ = setup_registry(pg, tmp_path, 1)
    repo = tmp_path / "repo"
    (repo / NAME / "1").mkdir(parents=True)
    (repo / NAME / "1" / "model.onnx").write_bytes(model_bytes(1))
    data = tmp_path / "local"
    proc, base = berthpy.start_serve(berth_path(), ["--model-repository", str(repo), "--registry-url", url, "--insecure-no-auth",
                                                    "--data-dir", str(data), "--prediction-log-sample", "1"], tmp_path / "repo.log",
                                     ready="/v2/health/ready")
    try:
        x = np.ones((1, IN), np.float32)
        for k in range(5):
            body = {"id": f"r-{k}", "inputs": [{"name": "x", "shape": [1, IN], "datatype": "FP32", "data": x.ravel().tolist()}]}
            status, doc = berthpy.http_json("POST", f"{base}/v2/models/{NAME}/infer", body)
            assert status == 200, doc
        time.sleep(0.6)  # the log's batch (0.2 s)
    finally:
        berthpy.stop_process(proc)
    assert not (data / "predictions.sqlite").exists()
    out = subprocess.run([str(berth_path()), "monitor", "log", NAME, "--registry-url", url, "--format", "jsonl"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert [json.loads(line)["id"] for line in out.stdout.splitlines()] == [f"r-{k}" for k in range(5)]


def infer_with_id(server, x: np.ndarray, rid: str) -> np.ndarray:
    body = {"id": rid, "inputs": [{"name": "x", "shape": list(x.shape), "datatype": "FP32", "data": x.ravel().tolist()}]}
    status, _, raw = server.request("POST", f"/v2/models/{NAME}/infer", body)
    assert status == 200, raw
    doc = json.loads(raw)
    assert doc["id"] == rid
    out = doc["outputs"][0]
    return np.asarray(out["data"], np.float32).reshape(out["shape"])


def test_feedback_reference_and_drift_are_shared_by_every_replica(pg, tmp_path):
    url, data = setup_registry(pg, tmp_path, 1)
    servers = []
    try:
        for i in range(3):
            os.environ["BERTH_REPLICA_ID"] = f"m{i}"
            try:
                servers.append(Server(data, tmp_path / f"m{i}.log", "--registry-url", url, "--prediction-log-sample", "1",
                                      "--drift-interval-ms", "300"))
            finally:
                del os.environ["BERTH_REPLICA_ID"]
        a, b, c = servers
        rng = np.random.default_rng(16)
        # 60 requests of 1-3 rows through A; their true labels drawn at random.
        ids, predicted, truth, rows = [], [], [], []
        for k in range(60):
            x = rng.normal(size=(int(rng.integers(1, 4)), IN)).astype(np.float32)
            y = infer_with_id(a, x, f"req-{k}")
            np.testing.assert_allclose(y, reference(1, x), atol=1e-4)
            ids.append(f"req-{k}")
            predicted += np.argmax(reference(1, x), axis=1).tolist()
            labels = rng.integers(0, 3, size=len(x)).tolist()
            truth.append(labels)
            rows.append(x)
        # Labels through B, at once: the retry covers records still in A's batch.
        result = b.api("POST", f"/models/{NAME}/feedback",
                       {"feedback": [{"id": i, "label": t} for i, t in zip(ids, truth)] + [{"id": "never-sent", "label": 0}]})
        assert result == {"accepted": 60, "unknown": ["never-sent"], "rejected": []}, result
        want = accuracy_score(sum(truth, []), predicted)
        seen = []
        for s in servers:
            realized = s.api("GET", f"/models/{NAME}/performance?version=1&window=100000")["versions"][0]["realized"]
            assert realized["samples"] == len(predicted)
            seen.append(realized["accuracy"])
        print(f"live accuracy on the three replicas {seen}, sklearn {want}")
        assert all(abs(v - want) <= 1e-12 for v in seen), (seen, want)
        # The gauge too, on replicas that never saw the feedback (refreshed with the drift gauges).
        for s in (a, c):
            deadline, gauge = time.time() + 10, None
            while time.time() < deadline:
                gauge = [x.value for fam in text_string_to_metric_families(s.metrics()) for x in fam.samples
                         if x.name == "berth_live_accuracy" and x.labels.get("model") == NAME]
                if gauge and abs(gauge[0] - want) <= 1e-9:
                    break
                time.sleep(0.2)
            assert gauge and abs(gauge[0] - want) <= 1e-9, (gauge, want)

        # The log is in PostgreSQL, readable offline from it.
        assert not (data / "predictions.sqlite").exists()
        out = subprocess.run([str(berth_path()), "monitor", "log", NAME, "--registry-url", url, "--format", "jsonl"],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        exported = [json.loads(line) for line in out.stdout.splitlines()]
        assert [e["id"] for e in exported] == ids
        assert [e["labels"] for e in exported] == truth

        # A reference through A; shifted traffic through B; drift from C.
        ref = rng.normal(size=(200, IN)).astype(np.float32)
        text = ",".join(f"x_{j}" for j in range(IN)) + "\n" + "".join(",".join(repr(float(v)) for v in row) + "\n" for row in ref)
        status, _, raw = a.request("PUT", f"/api/v1/models/{NAME}/versions/1/reference", text.encode(), {"Content-Type": "text/csv"})
        assert status == 201, raw
        cur = (rng.normal(size=(120, IN)) + np.array([0.8, 0, 0, 0])).astype(np.float32)
        for k in range(0, len(cur), 4):
            infer_with_id(b, cur[k:k + 4], f"shift-{k}")
        # B writes its batch within the log's flush interval (0.2 s); C reads what is written.
        time.sleep(1.0)
        window = 120 + sum(len(x) for x in rows)
        current = np.concatenate(rows + [cur])

        def check_drift(server, sample):
            d = server.api("GET", f"/models/{NAME}/drift?window={window}")
            for j in range(IN):
                f = d["features"][f"x_{j}"]
                r = stats.ks_2samp(sample[:, j].astype(np.float64), current[:, j].astype(np.float64))
                assert f["statistic"] == pytest.approx(r.statistic, abs=TOL, rel=TOL), (j, f, r)
                assert f["p_value"] == pytest.approx(r.pvalue, abs=TOL, rel=TOL), (j, f, r)
            return d

        for s in (b, c):
            assert check_drift(s, ref)["features"]["x_0"]["drifted"] is True
        # The sample is in the database, not in the shared data directory.
        assert not (data / "references").exists(), list((data / "references").rglob("*"))
        assert query(url, f"SELECT rows FROM reference_sample WHERE model = '{NAME}' AND version = '1'") == "200"
        # Replaced through A, with a sample drawn like the shifted traffic: B and C (which cached the
        # first one's table) use the new one at once, found by its digest.
        ref2 = (rng.normal(size=(150, IN)) + np.array([0.8, 0, 0, 0])).astype(np.float32)
        text2 = ",".join(f"x_{j}" for j in range(IN)) + "\n" + "".join(",".join(repr(float(v)) for v in row) + "\n" for row in ref2)
        status, _, raw = a.request("PUT", f"/api/v1/models/{NAME}/versions/1/reference", text2.encode(), {"Content-Type": "text/csv"})
        assert status == 201, raw
        digest = json.loads(raw)["sha256"]
        for s in (b, c):
            assert s.api("GET", f"/models/{NAME}/versions/1/reference")["sha256"] == digest
            check_drift(s, ref2)

        # Every sample of every replica's exposition carries its replica id (parsed by prometheus_client).
        for i, s in enumerate(servers):
            samples = [x for fam in text_string_to_metric_families(s.metrics()) for x in fam.samples]
            assert samples and {x.labels.get("replica") for x in samples} == {f"m{i}"}, \
                [x for x in samples if x.labels.get("replica") != f"m{i}"][:3]
            # A and B answered requests: their per-model series are labelled too.
            assert (i < 2) == any(x.name.startswith("berth_inference_requests") and x.labels.get("model") == NAME for x in samples)
    finally:
        for s in servers:
            s.stop()
