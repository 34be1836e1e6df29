"""Monitoring end to end: the prediction log, feedback and live metrics, `berth monitor log`,
and alert rules that roll a registry model back.

- Live accuracy / macro F1 / ROC-AUC (a scikit-learn logistic regression exported with skl2onnx)
  and RMSE / MAE (a linear regression) from feedback equal `sklearn.metrics` on the same rows
  within 1e-9.
- Every answer carries an id (the client's, or a generated UUID) that feedback can name.
- `berth monitor log` exports exactly the rows sent, with labels, masking applied.
- A rule `live_accuracy < 0.8` on a registry model whose promoted v2 is wrong rolls production
  back to v1 within the rule's window; the history names the rule as actor; no request fails.
- Bad feedback, bad rule files and bad flags: clear 4xx / exit 2.
"""
from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from conftest import berth_path
import berthpy
from skl2onnx import to_onnx
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn import metrics as skm
from test_registry_cli import NAME, model_bytes, weights

TOL = 1e-9


class Server:
    """`berth serve ARGS` on 127.0.0.1 and a free port, ready; the log goes to a file."""

    def __init__(self, args: list[str], log: Path, env: dict | None = None):
        self.port = berthpy.free_port()
        self.log_path = log
        self._log = open(log, "ab")
        base = {k: v for k, v in os.environ.items() if k != "BERTH_DATA_DIR"}
        self.proc = subprocess.Popen([str(berth_path()), "serve", "--insecure-no-auth", "--port", str(self.port), *args],
                                     stdout=self._log, stderr=subprocess.STDOUT, env={**base, **(env or {})})
        deadline = time.time() + 120
        while time.time() < deadline and self.proc.poll() is None:
            try:
                if self.call("GET", "/v2/health/ready", timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        pytest.fail(f"berth serve did not become ready (exit {self.proc.returncode}):\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def call(self, method: str, path: str, body=None, timeout: float = 60):
        return berthpy.http_json(method, f"http://127.0.0.1:{self.port}{path}", body, timeout=timeout)

    def ok(self, method: str, path: str, body=None, want: int = 200):
        status, doc = self.call(method, path, body)
        assert status == want, f"{method} {path} -> {status} {doc}\n{self.log()}"
        return doc

    def infer(self, model: str, x: np.ndarray, request_id: str | None = None, name: str = "X"):
        body = {"inputs": [{"name": name, "shape": list(x.shape), "datatype": "FP32", "data": x.ravel().tolist()}]}
        if request_id:
            body["id"] = request_id
        return self.ok("POST", f"/v2/models/{model}/infer", body)

    def stop(self) -> None:
        berthpy.stop_process(self.proc)
        self._log.close()


def metrics_text(server: Server) -> str:
    import urllib.request
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=30) as r:
        return r.read().decode()


def repository(tmp_path: Path):
    """A repository with a binary classifier (`clf`: label + probabilities) and a regressor (`reg`)."""
    xc, yc = make_classification(n_samples=400, n_features=4, n_informative=3, n_redundant=0, random_state=3)
    clf = LogisticRegression(max_iter=500).fit(xc[:200], yc[:200])
    xr, yr = make_regression(n_samples=300, n_features=4, noise=8.0, random_state=5)
    reg = LinearRegression().fit(xr[:150], yr[:150])
    repo = tmp_path / "repo"
    for name, model, x in [("clf", clf, xc), ("reg", reg, xr)]:
        (repo / name / "1").mkdir(parents=True)
        onx = to_onnx(model, x[:1].astype(np.float32), options={id(model): {"zipmap": False}} if name == "clf" else None,
                      target_opset={"": 17, "ai.onnx.ml": 3})
        (repo / name / "1" / "model.onnx").write_bytes(onx.SerializeToString())
    return repo, (xc[200:].astype(np.float32), yc[200:]), (xr[150:].astype(np.float32), yr[150:])


def test_feedback_live_metrics_match_sklearn_and_log_exports(tmp_path):
    repo, (xc, yc), (xr, yr) = repository(tmp_path)
    data = tmp_path / "data"
    server = Server(["--model-repository", str(repo), "--prediction-log-sample", "1", "--data-dir", str(data),
                     "--prediction-log-mask", "X=hash"], tmp_path / "serve.log")
    try:
        # Classifier: batches of 1-5 rows, half with a client id; the answer carries the id.
        rng = np.random.default_rng(11)
        sent, i, ids = [], 0, []
        predicted, scores = [], []
        while i < len(xc):
            n = int(rng.integers(1, 6))
            rows = xc[i:i + n]
            rid = f"client-{i}" if rng.random() < 0.5 else None
            doc = server.infer("clf", rows, rid)
            if rid:
                assert doc["id"] == rid
            else:
                uuid.UUID(doc["id"])  # a generated UUID
            outs = {o["name"]: o for o in doc["outputs"]}
            predicted += outs["label"]["data"]
            probs = np.asarray(outs["probabilities"]["data"]).reshape(-1, 2)
            scores += probs[:, 1].tolist()
            labels = yc[i:i + n].tolist()
            ids.append(doc["id"])
            sent.append({"id": doc["id"], "label": labels[0] if n == 1 else labels})
            i += n
        result = server.ok("POST", "/api/v1/models/clf/feedback", {"feedback": sent + [{"id": "never-sent", "label": 1}]})
        assert result == {"accepted": len(sent), "unknown": ["never-sent"], "rejected": []}
        perf = server.ok("GET", f"/api/v1/models/clf/performance?window={len(xc)}")
        realized = perf["versions"][0]["realized"]
        assert perf["versions"][0]["version"] == "1" and realized["samples"] == len(xc)
        assert abs(realized["accuracy"] - skm.accuracy_score(yc, predicted)) <= TOL
        assert abs(realized["f1_macro"] - skm.f1_score(yc, predicted, average="macro")) <= TOL
        assert abs(realized["roc_auc"] - skm.roc_auc_score(yc, scores)) <= TOL
        # A window of the newest 50 rows (feedback was sent in one batch: newest = last sent).
        w = server.ok("GET", "/api/v1/models/clf/performance?window=50")["versions"][0]["realized"]
        assert w["samples"] == 50
        assert abs(w["accuracy"] - skm.accuracy_score(yc[-50:], predicted[-50:])) <= TOL

        # Regressor: one row per request, labels as numbers.
        values, fb = [], []
        for k in range(len(xr)):
            doc = server.infer("reg", xr[k:k + 1])
            values.append(doc["outputs"][0]["data"][0])
            fb.append({"id": doc["id"], "label": float(yr[k])})
        assert server.ok("POST", "/api/v1/models/reg/feedback", {"feedback": fb})["accepted"] == len(fb)
        r = server.ok("GET", "/api/v1/models/reg/performance?version=1&window=100000")["versions"][0]["realized"]
        assert r["task"] == "regression" and r["samples"] == len(xr)
        assert abs(r["rmse"] - skm.mean_squared_error(yr, values) ** 0.5) <= 1e-6 * max(1, r["rmse"])
        assert abs(r["mae"] - skm.mean_absolute_error(yr, values)) <= 1e-6 * max(1, r["mae"])

        # Gauges follow feedback.
        text = metrics_text(server)
        acc = [v for labels, v in berthpy.prometheus_samples(text, "berth_live_accuracy") if labels.get("model") == "clf"]
        assert acc and abs(acc[0] - skm.accuracy_score(yc, predicted)) <= 1e-6

        # Bad feedback: wrong label count, malformed JSON, missing field, unknown model, bad window.
        multi = next(s for s in sent if isinstance(s["label"], list))
        bad = server.ok("POST", "/api/v1/models/clf/feedback", {"feedback": [{"id": multi["id"], "label": 1}]})
        assert bad["accepted"] == 0 and bad["rejected"][0]["id"] == multi["id"] and "rows" in bad["rejected"][0]["reason"]
        for body, word in [(b'{"feedback": [', "body"), ({"feedback": [{"label": 1}]}, "id"), ({"fb": []}, "feedback")]:
            status, doc = server.call("POST", "/api/v1/models/clf/feedback", body)
            assert status == 400 and word in doc["error"], (body, status, doc)
        status, doc = server.call("POST", "/api/v1/models/nope/feedback", {"feedback": []})
        assert status == 404 and "nope" in doc["error"]
        status, doc = server.call("GET", "/api/v1/models/clf/performance?window=0")
        assert status == 400 and "window" in doc["error"]
        assert server.call("GET", "/v2/health/ready")[0] == 200
        # Three last requests, still batched in memory when SIGTERM arrives: written at shutdown.
        late = [server.infer("clf", xc[k:k + 1])["id"] for k in range(3)]
    finally:
        server.stop()

    # The export has one line per row sent, labels joined, and the input hashed (never the value).
    out = subprocess.run([str(berth_path()), "monitor", "log", "clf", "--data-dir", str(data)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert [r["id"] for r in rows[-3:]] == late and all(r["label"] == "" for r in rows[-3:])
    rows = rows[:-3]
    assert len(rows) == len(xc)
    assert [float(r["label"]) for r in rows] == [float(v) for v in yc]
    assert all(len(r["X_0"]) == 16 and r["X_0"] != "" for r in rows), rows[0]
    assert {r["id"] for r in rows} == set(ids)
    jl = subprocess.run([str(berth_path()), "monitor", "log", "reg", "--format", "jsonl", "--since", "1h", "--data-dir", str(data)],
                        capture_output=True, text=True, timeout=60)
    assert jl.returncode == 0, jl.stderr
    lines = [json.loads(line) for line in jl.stdout.splitlines()]
    assert len(lines) == len(xr) and lines[0]["labels"] == [float(yr[0])]
    assert lines[0]["outputs"][0]["shape"] == [1, 1]
    for args, word in [(["monitor", "log", "clf", "--data-dir", str(tmp_path / "none")], "no prediction log"),
                       (["monitor", "log", "clf", "--data-dir", str(data), "--format", "xml"], "--format"),
                       (["monitor", "log", "clf", "--data-dir", str(data), "--since", "yesterday"], "--since")]:
        p = subprocess.run([str(berth_path()), *args], capture_output=True, text=True, timeout=60)
        assert p.returncode == 2 and word in p.stderr, (args, p.returncode, p.stderr)


def registry_with_two_versions(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    for k in (1, 2):
        (tmp_path / f"m{k}.onnx").write_bytes(model_bytes(k))
        p = subprocess.run([str(berth_path()), "registry", "push", NAME, str(tmp_path / f"m{k}.onnx"), "--data-dir", str(data)],
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
    for k in (1, 2):
        p = subprocess.run([str(berth_path()), "registry", "promote", NAME, str(k), "--data-dir", str(data)],
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
    return data


def v1_class(x: np.ndarray) -> np.ndarray:
    w, b = weights(1)
    return np.argmax(x @ w + b, axis=1)


def test_alert_rule_rolls_back_a_bad_promotion(tmp_path):
    data = registry_with_two_versions(tmp_path)  # production: v2, history: v1 then v2
    rules = tmp_path / "rules.yaml"
    rules.write_text(f"""rules:
  - name: accuracy-drop
    model: {NAME}
    when: live_accuracy < 0.8
    min_samples: 40
    window: 40
    for: 1s
    actions: [rollback, log]
""")
    server = Server(["--registry", "--data-dir", str(data), "--poll-interval-ms", "200", "--prediction-log-sample", "1",
                     "--alert-rules", str(rules), "--alert-interval-ms", "200"], tmp_path / "serve.log")
    failures, stop = [], threading.Event()

    def background():
        rng = np.random.default_rng(1)
        while not stop.is_set():
            x = rng.standard_normal((1, 4)).astype(np.float32)
            body = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": x.ravel().tolist()}]}
            status, doc = server.call("POST", f"/v2/models/{NAME}/infer", body)
            if status != 200:
                failures.append((status, doc))

    t = threading.Thread(target=background)
    t.start()
    try:
        alerts = server.ok("GET", "/api/v1/alerts")["alerts"]
        assert [a["name"] for a in alerts] == ["accuracy-drop"] and alerts[0]["status"]["state"] == "insufficient_data"
        # The truth is what v1 answers; v2 (production) disagrees on most rows.
        rng = np.random.default_rng(2)
        fb = []
        for _ in range(60):
            x = rng.standard_normal((1, 4)).astype(np.float32)
            doc = server.infer(NAME, x, name="x")
            assert doc["model_version"] == "2"
            fb.append({"id": doc["id"], "label": int(v1_class(x)[0])})
        assert server.ok("POST", f"/api/v1/models/{NAME}/feedback", {"feedback": fb})["accepted"] == 60
        deadline, production = time.time() + 30, None
        while time.time() < deadline:
            production = server.ok("GET", f"/api/v1/models/{NAME}")["aliases"].get("production")
            if production == 1:
                break
            time.sleep(0.2)
        assert production == 1, f"production is still {production}\n{server.log()}"
        history = server.ok("GET", f"/api/v1/models/{NAME}/history")["events"]
        last = history[-1]
        assert last["action"] == "rollback" and last["actor"] == "rule:accuracy-drop" and "live_accuracy" in last["reason"], last
        alert = server.ok("GET", "/api/v1/alerts")["alerts"][0]["status"]
        assert alert["fired"] == 1 and any(a.startswith("rollback: production 2") for a in alert["last_actions"]), alert
        # v1 now answers, and the alert resolves (too few labelled rows on v1 to judge it).
        deadline = time.time() + 10
        while time.time() < deadline and server.ok("GET", "/api/v1/alerts")["alerts"][0]["status"]["state"] == "firing":
            time.sleep(0.2)
        assert server.ok("GET", "/api/v1/alerts")["alerts"][0]["status"]["state"] != "firing"
        assert server.infer(NAME, np.zeros((1, 4), np.float32), name="x")["model_version"] == "1"
        firing = berthpy.prometheus_samples(metrics_text(server), "berth_alert_firing")
        assert firing == [({"model": NAME, "rule": "accuracy-drop"}, 0.0)], firing
    finally:
        stop.set()
        t.join()
        server.stop()
    assert failures == [], failures[:3]


RETRAIN_SCRIPT = """
import csv, os, sys
import numpy as np, onnx
from onnx import TensorProto, helper, numpy_helper
from sklearn.linear_model import LogisticRegression
rows = list(csv.DictReader(open(os.environ["BERTH_RETRAIN_DATA"])))
label = os.environ["BERTH_RETRAIN_LABEL"]
names = [k for k in rows[0] if k != label]
x = np.array([[float(r[k]) for k in names] for r in rows], np.float32)
y = np.array([int(float(r[label])) for r in rows])
clf = LogisticRegression(max_iter=2000, C=100.0).fit(x, y)
w = np.zeros((x.shape[1], 3), np.float32)
b = np.full(3, -1e4, np.float32)
for j, c in enumerate(clf.classes_):
    w[:, c], b[c] = clf.coef_[j], clf.intercept_[j]
g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node("Add", ["m", "b"], ["l"]),
                       helper.make_node("Softmax", ["l"], ["y"], axis=-1)], "retrained",
                      [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
                      [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
m.ir_version = 8
onnx.save(m, os.environ["BERTH_RETRAIN_OUTPUT"])
print("trained on", len(rows), "rows;", os.environ["BERTH_MODEL"], os.environ["BERTH_VERSION"], os.environ["BERTH_RETRAIN_TASK"])
"""


def test_alert_rule_retrains_into_a_gated_canary(tmp_path):
    """live accuracy falls (the truth is another linear rule) → the rule runs the retrain command on
    the logged labelled rows → its model is pushed with the metrics of the newest held-out rows
    (equal to ONNX Runtime's on the same rows), passes the gate and serves a canary share, while
    production stays on v1."""
    import onnxruntime as ort

    data = tmp_path / "data"
    (tmp_path / "m1.onnx").write_bytes(model_bytes(1))
    b = str(berth_path())
    for args in (["push", NAME, str(tmp_path / "m1.onnx")], ["promote", NAME, "1"]):
        p = subprocess.run([b, "registry", *args, "--data-dir", str(data)], capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
    script = tmp_path / "retrain.py"
    script.write_text(RETRAIN_SCRIPT)
    import sys
    rules = tmp_path / "rules.yaml"
    rules.write_text(f"""rules:
  - name: acc
    model: {NAME}
    when: live_accuracy < 0.8
    min_samples: 200
    window: 200
    actions: [retrain]
    retrain:
      command: [{sys.executable}, {script}]
      canary_percent: 25
      gates: ["accuracy>=0.85"]
      holdout: 0.2
""")
    server = Server(["--registry", "--data-dir", str(data), "--poll-interval-ms", "200", "--prediction-log-sample", "1",
                     "--alert-rules", str(rules), "--alert-interval-ms", "200"], tmp_path / "serve.log")
    w2, b2 = weights(2)
    try:
        rng = np.random.default_rng(11)
        xs = rng.standard_normal((200, 4)).astype(np.float32)
        truth = np.argmax(xs @ w2 + b2, axis=1)
        fb = []
        for x, t in zip(xs, truth):
            doc = server.infer(NAME, x[None, :], name="x")
            assert doc["model_version"] == "1"
            fb.append({"id": doc["id"], "label": int(t)})
        assert server.ok("POST", f"/api/v1/models/{NAME}/feedback", {"feedback": fb})["accepted"] == 200
        deadline, model = time.time() + 120, {}
        while time.time() < deadline:
            model = server.ok("GET", f"/api/v1/models/{NAME}")
            if model["aliases"].get("candidate") == 2 and (model.get("traffic") or {}).get("canary"):
                break
            time.sleep(0.3)
        assert model["aliases"].get("candidate") == 2, f"{model}\n{server.log()}"
        assert model["aliases"]["production"] == 1
        v2 = server.ok("GET", f"/api/v1/models/{NAME}/versions/2")
        assert v2["parent"] == 1 and v2["params"]["rule"] == "acc" and v2["params"]["holdout_rows"] == "40", v2
        # The recorded accuracy is the new model's on the 40 newest labelled rows, as ONNX Runtime computes it.
        artifact = tmp_path / "v2.onnx"
        import urllib.request
        artifact.write_bytes(urllib.request.urlopen(f"http://127.0.0.1:{server.port}/api/v1/models/{NAME}/versions/2/artifact").read())
        probs = ort.InferenceSession(str(artifact), providers=["CPUExecutionProvider"]).run(["y"], {"x": xs[-40:]})[0]
        assert abs(v2["metrics"]["accuracy"] - float(np.mean(probs.argmax(axis=1) == truth[-40:]))) <= 1e-12, v2["metrics"]
        traffic = server.ok("GET", f"/api/v1/models/{NAME}/traffic")
        assert traffic["canary"]["alias"] == "candidate" and traffic["canary"]["percent"] == 25, traffic
        history = server.ok("GET", f"/api/v1/models/{NAME}/history")["events"]
        assert {e["actor"] for e in history[-2:]} == {"rule:acc"}, history[-3:]
        # The canary answers about a quarter of the requests; production keeps the rest.
        deadline = time.time() + 10
        while time.time() < deadline:
            served = [server.infer(NAME, np.zeros((1, 4), np.float32), name="x")["model_version"] for _ in range(200)]
            if "2" in served:
                break
        share = served.count("2") / len(served)
        assert 0.1 <= share <= 0.45 and set(served) == {"1", "2"}, share
    finally:
        server.stop()


def test_bad_rule_files_and_flags_exit_2(tmp_path):
    repo, _, _ = repository(tmp_path)
    cases = [
        ("rules:\n  - name: a\n    model: clf\n    when: live_acuracy < 0.8\n", ["--prediction-log-sample", "1"], "rules.yaml:4"),
        ("rules:\n  - name: a\n    model: clf\n    when: live_accuracy < 0.8\n", [], "--prediction-log-sample"),
        ("rules:\n  - name: a\n    model: clf\n    when: error_rate > 0.1\n    actions: [retrain]\n", [], "retrain"),
        ("rules:\n  - name: a\n    model: clf\n    when: error_rate > 0.1\n    actions: [retrain]\n    retrain:\n      gates: [x]\n",
         [], "needs a 'command'"),
        ("rules:\n  - name: a\n    model: clf\n    when: error_rate > 0.1\n    actions: [retrain]\n    retrain:\n"
         "      command: [true]\n      gates: [\"accuracy=>0.8\"]\n", [], "gate 'accuracy=>0.8'"),
        ("rules:\n  - name: a\n    model: clf\n    when: error_rate > 0.1\n    actions: [retrain]\n    retrain:\n"
         "      command: [true]\n", ["--prediction-log-sample", "1"], "--registry"),
        ("rules: [\n", [], "not valid YAML"),
    ]
    for text, extra, word in cases:
        f = tmp_path / "rules.yaml"
        f.write_text(text)
        p = subprocess.run([str(berth_path()), "serve", "--insecure-no-auth", "--model-repository", str(repo), "--port", "0", "--alert-rules", str(f),
                            "--data-dir", str(tmp_path / "d"), *extra], capture_output=True, text=True, timeout=60)
        assert p.returncode == 2 and word in p.stderr, (text, p.returncode, p.stderr)
    for extra, word in [(["--prediction-log-sample", "1.5"], "between 0 and 1"),
                        (["--prediction-log-sample", "1", "--prediction-log-mask", "X=encrypt"], "NAME=drop|hash|keep"),
                        (["--prediction-log-sample", "1", "--prediction-log-max-age", "soon"], "--prediction-log-max-age"),
                        (["--alert-rules", str(tmp_path / "missing.yaml")], "cannot read")]:
        p = subprocess.run([str(berth_path()), "serve", "--insecure-no-auth", "--model-repository", str(repo), "--port", "0", *extra],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 2 and word in p.stderr, (extra, p.returncode, p.stderr)


def put_csv(server: Server, path: str, text: str):
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        conn.request("PUT", path, body=text.encode(), headers={"Content-Type": "text/csv"})
        r = conn.getresponse()
        return r.status, json.loads(r.read() or b"null")
    finally:
        conn.close()


def test_online_drift_and_estimate_equal_the_offline_commands(tmp_path):
    """The drift API and the label-free estimate on logged traffic equal `berth drift` and
    `berth monitor estimate` on the exported log: one implementation, online and offline."""
    x, y = make_classification(n_samples=3000, n_features=4, n_informative=3, n_redundant=0, random_state=8)
    x = x.astype(np.float32)
    clf = LogisticRegression(max_iter=500).fit(x[:400], y[:400])
    repo = tmp_path / "repo"
    (repo / "clf" / "1").mkdir(parents=True)
    onx = to_onnx(clf, x[:1], options={id(clf): {"zipmap": False}}, target_opset={"": 17, "ai.onnx.ml": 3})
    model = repo / "clf" / "1" / "model.onnx"
    model.write_bytes(onx.SerializeToString())
    names = ["f0", "f1", "f2", "f3"]
    ref = tmp_path / "ref.csv"
    ref.write_text(",".join(names + ["y"]) + "\n" + "".join(
        ",".join([repr(float(v)) for v in row] + [str(int(t))]) + "\n" for row, t in zip(x[400:700], y[400:700])))
    # Covariate shift that keeps P(y | x): the live rows are drawn where f0 is above its median.
    pool_x, pool_y = x[700:], y[700:]
    pick = np.flatnonzero(pool_x[:, 0] > np.median(pool_x[:, 0]))[:400]
    shifted, shifted_y = pool_x[pick], pool_y[pick]
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - name: drifted\n    model: clf\n    when: drift_share >= 0.25\n    window: 400\n"
                     "    min_samples: 400\n    actions: [log]\n  - name: f0\n    model: clf\n    when: feature_drift(f0) > 0\n"
                     "    window: 400\n    min_samples: 400\n")
    data = tmp_path / "data"
    server = Server(["--model-repository", str(repo), "--prediction-log-sample", "1", "--data-dir", str(data),
                     "--alert-rules", str(rules), "--alert-interval-ms", "200", "--drift-interval-ms", "300"], tmp_path / "serve.log")
    try:
        status, doc = put_csv(server, "/api/v1/models/clf/versions/1/reference?label=y", ref.read_text())
        assert status == 201 and doc["rows"] == 300 and doc["label"] == "y" and doc["columns"] == names + ["y"], doc
        assert server.ok("GET", "/api/v1/models/clf/versions/1/reference")["sha256"] == doc["sha256"]
        for i in range(0, len(shifted), 8):
            server.infer("clf", shifted[i:i + 8])
        # The drift service refreshes the gauges on its own (window 1,000 rows ⊇ the 400 sent), prediction included.
        # (A drift rule's check sets the feature gauges too, but only this service tests the prediction.)
        deadline, gauge, predicted = time.time() + 20, [], []
        while time.time() < deadline and not (gauge and predicted):
            text = metrics_text(server)
            gauge = [v for labels, v in berthpy.prometheus_samples(text, "berth_feature_drifted")
                     if labels.get("model") == "clf" and labels.get("feature") == "f0"]
            predicted = [v for labels, v in berthpy.prometheus_samples(text, "berth_prediction_drifted") if labels.get("model") == "clf"]
            time.sleep(0.2)
        assert gauge == [1.0] and len(predicted) == 1, server.log()
        online = server.ok("GET", "/api/v1/models/clf/drift?window=400")
        perf = server.ok("GET", "/api/v1/models/clf/performance?window=400")["versions"][0]
        deadline = time.time() + 20
        while time.time() < deadline:
            states = {a["name"]: a["status"]["state"] for a in server.ok("GET", "/api/v1/alerts")["alerts"]}
            if states == {"drifted": "firing", "f0": "firing"}:
                break
            time.sleep(0.2)
        assert states == {"drifted": "firing", "f0": "firing"}, (states, server.log())
        share = [v for labels, v in berthpy.prometheus_samples(metrics_text(server), "berth_drift_share") if labels["model"] == "clf"]
        assert share == [online["drift_share"]]

        # Bad input: unknown version, missing label column, a header only, no reference yet.
        assert put_csv(server, "/api/v1/models/clf/versions/9/reference", ref.read_text())[0] == 404
        status, doc = put_csv(server, "/api/v1/models/clf/versions/1/reference?label=target", ref.read_text())
        assert status == 400 and "target" in doc["error"], doc
        status, doc = put_csv(server, "/api/v1/models/clf/versions/1/reference", "f0,f1\n")
        assert status == 400 and "no data rows" in doc["error"], doc
        status, doc = put_csv(server, "/api/v1/models/clf/versions/1/reference", "a,b\n1,\"2\n")
        assert status == 400, doc
        status, doc = server.call("GET", "/api/v1/models/clf/drift?window=0")
        assert status == 400 and "window" in doc["error"]
    finally:
        server.stop()
    assert online["features"]["f0"]["drifted"] is True and online["dataset_drift"] == (online["drift_share"] >= 0.5), online

    # Offline on the exported log: the same report, the same estimate.
    out = subprocess.run([str(berth_path()), "monitor", "log", "clf", "--data-dir", str(data)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    cur = tmp_path / "cur.csv"
    cur.write_text(",".join(names) + "\n" + "".join(",".join(r[f"X_{k}"] for k in range(4)) + "\n" for r in rows))
    # The prediction column: ONNX Runtime's classes on the reference rows and on the logged rows.
    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    ref_x = np.array([[float(v) for v in line.split(",")[:4]] for line in ref.read_text().splitlines()[1:]], np.float32)
    cur_x = np.array([[float(r[f"X_{k}"]) for k in range(4)] for r in rows], np.float32)
    ref_pred, cur_pred = (sess.run(["label"], {"X": a})[0] for a in (ref_x, cur_x))
    cur_with = tmp_path / "cur_with_prediction.csv"
    cur_with.write_text(",".join(names + ["prediction"]) + "\n" + "".join(
        ",".join([r[f"X_{k}"] for k in range(4)] + [str(int(p))]) + "\n" for r, p in zip(rows, cur_pred)))
    ref_features = tmp_path / "ref_features.csv"
    ref_lines = ref.read_text().splitlines()
    ref_features.write_text(",".join(names + ["prediction"]) + "\n" + "".join(
        ",".join(line.split(",")[:4] + [str(int(p))]) + "\n" for line, p in zip(ref_lines[1:], ref_pred)))
    offline = subprocess.run([str(berth_path()), "drift", "--reference", str(ref_features), "--current", str(cur_with),
                              "--prediction", "prediction", "--json"], capture_output=True, text=True, timeout=60)
    assert offline.returncode == 0, offline.stderr
    # Online drift tests the prediction too: the model's answers on the reference sample against the logged answers.
    assert "prediction" in online and json.loads(offline.stdout) == online
    est = subprocess.run([str(berth_path()), "monitor", "estimate", str(model), "--reference", str(ref), "--analysis", str(cur),
                          "--label", "y", "--json"], capture_output=True, text=True, timeout=60)
    assert est.returncode == 0, est.stderr
    offline_est = json.loads(est.stdout)["metrics"]
    assert perf.get("estimated_reason") is None, perf
    for metric in ("accuracy", "f1_macro", "roc_auc"):
        assert abs(perf["estimated"][metric] - offline_est[metric]["estimated"]) <= 1e-12, (metric, perf, offline_est)
    # The estimate tracks the realized accuracy on the shifted rows (NannyML agreement is tested offline).
    realized = skm.accuracy_score(shifted_y, clf.predict(shifted))
    reference_accuracy = skm.accuracy_score(y[400:700], clf.predict(x[400:700]))
    assert abs(perf["estimated"]["accuracy"] - realized) <= 0.05, (perf, realized, reference_accuracy)


def test_registry_push_reference_data(tmp_path):
    data = tmp_path / "data"
    (tmp_path / "m1.onnx").write_bytes(model_bytes(1))
    ref = tmp_path / "ref.csv"
    ref.write_text("a,b,c,d,y\n" + "".join(f"{i},{i + 1},{i * 2},{-i},{i % 3}\n" for i in range(20)))
    base = [str(berth_path()), "registry", "push", NAME, str(tmp_path / "m1.onnx"), "--data-dir", str(data), "--reference-data", str(ref)]
    bad = subprocess.run(base + ["--label", "target"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "target" in bad.stderr, bad.stderr
    listed = subprocess.run([str(berth_path()), "registry", "list", "--json", "--data-dir", str(data)], capture_output=True, text=True)
    assert json.loads(listed.stdout)["models"] == [], "a bad reference sample must push nothing"
    good = subprocess.run(base + ["--label", "y"], capture_output=True, text=True, timeout=60)
    assert good.returncode == 0, good.stderr
    info = json.loads((data / "references" / NAME / "1.json").read_text())
    assert info["rows"] == 20 and info["label"] == "y" and info["columns"] == ["a", "b", "c", "d", "y"]


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        for d in os.environ.get("PATH", "").split(os.pathsep):
            if (Path(d) / name).exists():
                return str(Path(d) / name)
    pytest.fail("the dashboard test needs Chromium (Debian package `chromium`; scripts/setup.sh installs it)", pytrace=False)


def test_dashboard_draws_charts_in_chromium(tmp_path):
    """After traffic, feedback, a rollback and a drifted feature, headless Chromium renders the
    dashboard with data in every chart and no script error; the screenshot is kept."""
    data = registry_with_two_versions(tmp_path)
    rng = np.random.default_rng(5)
    ref_x = rng.standard_normal((300, 4)).astype(np.float32)
    ref = "a,b,c,d\n" + "".join(",".join(repr(float(v)) for v in row) + "\n" for row in ref_x)
    server = Server(["--registry", "--data-dir", str(data), "--poll-interval-ms", "200", "--prediction-log-sample", "1"],
                    tmp_path / "serve.log")
    try:
        assert put_csv(server, f"/api/v1/models/{NAME}/versions/2/reference", ref)[0] == 201
        fb = []
        for _ in range(150):
            x = rng.standard_normal((1, 4)).astype(np.float32)
            x[0, 0] += 2  # feature a drifts
            doc = server.infer(NAME, x, name="x")
            fb.append({"id": doc["id"], "label": int(v1_class(x)[0])})
        server.ok("POST", f"/api/v1/models/{NAME}/feedback", {"feedback": fb})
        for _ in range(5):  # a failed request shows on the error line
            server.call("POST", f"/v2/models/{NAME}/infer", {"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]})
        dash = server.ok("GET", "/api/v1/dashboard")
        model = next(m for m in dash["models"] if m["name"] == NAME)
        assert model["aliases"]["production"] == 2 and model["drift"]["report"]["features"]["a"]["drifted"] is True, model.get("drift_reason")
        assert sum(model["series"]["request_rate"]) > 0 and model["performance"]["timeline"]["value"], model["performance"]

        url = f"http://127.0.0.1:{server.port}/dashboard"
        common = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
                  "--virtual-time-budget=8000", "--enable-logging=stderr", "--v=0", f"--user-data-dir={tmp_path / 'chrome'}"]
        dom = subprocess.run(common + ["--dump-dom", url], capture_output=True, text=True, timeout=120)
        assert dom.returncode == 0, dom.stderr[-2000:]
        html = dom.stdout
        assert 'data-loaded="true"' in html, html[:2000]
        assert '<div id="errors"></div>' in html, html[html.find('id="errors"') - 20:][:400]
        console_errors = [line for line in dom.stderr.splitlines() if "CONSOLE" in line and ("Uncaught" in line or "rror" in line)]
        assert console_errors == [], console_errors
        import re
        points = [int(n) for n in re.findall(r'<svg class="chart"[^>]*data-points="(\d+)"', html)]
        titles = re.findall(r'<text x="8" y="16" class="chart-title">([^<]*)</text>', html)
        assert len(points) >= 4 and all(p > 0 for p in points), list(zip(titles, points))
        assert any(t.startswith("a: reference vs current") and "drifted" in t for t in titles), titles
        assert "Alias history" in html and "promote" in html
        shots = Path(os.environ.get("BERTH_ARTIFACTS", Path(__file__).resolve().parents[2] / ".build" / "artifacts"))
        shots.mkdir(parents=True, exist_ok=True)
        shot = subprocess.run(common + ["--window-size=1280,1900", f"--screenshot={shots / 'dashboard.png'}", url],
                              capture_output=True, text=True, timeout=120)
        assert shot.returncode == 0 and (shots / "dashboard.png").stat().st_size > 20_000, shot.stderr[-2000:]
    finally:
        server.stop()
