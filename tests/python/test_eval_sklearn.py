"""`berth eval` against scikit-learn: every metric must equal sklearn.metrics within 1e-9.

Run:   .venv/bin/python -m pytest tests/python/test_eval_sklearn.py -q
The berth binary is taken from $BERTH_BIN, else <repo>/.build/release/berth,
else <repo>/.build/debug/berth. If none exists the tests FAIL (they never skip).

Models are trained on scikit-learn's bundled data sets and exported with skl2onnx into a
temporary directory: a binary LogisticRegression (Scaler + LinearClassifier), a multiclass
LogisticRegression with string labels and ZipMap, an MLPClassifier with string labels, a
ColumnTransformer pipeline whose inputs are one column each (one a string column), Ridge
(LinearRegressor) and MLPRegressor, plus the committed digits model on .npy data.

`berth eval --json --save-predictions DIR` writes what it computed the metrics from
(labels.npy, predictions.npy, probabilities.npy in classes.npy order); sklearn.metrics gets
exactly those arrays. The predictions themselves are checked against ONNX Runtime so that a
wrong column-to-input mapping cannot go unnoticed.
"""
from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
import pytest
from sklearn import metrics as M
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_iris
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.utils.multiclass import unique_labels
from skl2onnx import convert_sklearn, to_onnx
from skl2onnx.common.data_types import FloatTensorType, StringTensorType

REPO_ROOT = Path(__file__).resolve().parents[2]
TOL = 1e-9  # metrics: Berth vs sklearn on the same predictions
PROB_ATOL = 1e-4  # probabilities: Berth vs ONNX Runtime (float32 kernels)
RUN_TIMEOUT_S = 600
OPSETS = {"": 17, "ai.onnx.ml": 3}

# Berth computes metrics on float64 copies of the models' float32 probabilities, so rows sum to
# one only within float32 rounding; sklearn warns (and, like Berth, does not renormalise).
pytestmark = pytest.mark.filterwarnings("ignore:The y_prob values do not sum to one")
IRIS_NAMES = np.array(["setosa", "versicolor", "virginica"])


# ---------------------------------------------------------------------------
# fixtures


def _write_csv(path: Path, header: list[str], columns: list[np.ndarray]) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for row in zip(*columns):
            w.writerow([repr(float(v)) if isinstance(v, (float, np.floating)) else str(v) for v in row])
    return path


def _split(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    idx = np.random.default_rng(seed).permutation(n)
    cut = int(n * 0.6)
    return idx[:cut], idx[cut:]


class Case:
    """A model file, its evaluation data and how to evaluate it."""

    def __init__(self, name, model, data, task, label=None, labels_file=None, truth=None, ort_feeds=None):
        self.name, self.model, self.data, self.task = name, model, data, task
        self.label, self.labels_file, self.truth, self.ort_feeds = label, labels_file, truth, ort_feeds

    def args(self) -> list[str]:
        a = [str(self.model), "--data", str(self.data), "--task", self.task]
        if self.label is not None:
            a += ["--label", self.label]
        if self.labels_file is not None:
            a += ["--labels", str(self.labels_file)]
        return a


@pytest.fixture(scope="session")
def cases(tmp_path_factory) -> dict[str, Case]:
    d = tmp_path_factory.mktemp("eval")
    out: dict[str, Case] = {}
    warnings.simplefilter("ignore")

    # Binary: breast cancer, StandardScaler + LogisticRegression -> Scaler + LinearClassifier.
    # The label column comes first; the 30 feature columns (names with spaces) follow in order.
    bc = load_breast_cancer()
    tr, te = _split(len(bc.target))
    X = bc.data.astype(np.float32)
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X[tr], bc.target[tr])
    onx = to_onnx(pipe, X[:1], options={id(pipe.steps[-1][1]): {"zipmap": False}}, target_opset=OPSETS)
    onnx.save(onx, d / "bc_logreg.onnx")
    names = [str(n) for n in bc.feature_names]
    _write_csv(d / "bc.csv", ["diagnosis"] + names, [bc.target[te]] + [X[te, j] for j in range(X.shape[1])])
    out["binary_logreg"] = Case("binary_logreg", d / "bc_logreg.onnx", d / "bc.csv", "classification", label="diagnosis",
                                truth=bc.target[te], ort_feeds={"X": X[te]})

    # Multiclass, string labels, ZipMap output; the label column sits between feature columns.
    iris = load_iris()
    tr, te = _split(len(iris.target), seed=1)
    Xi = iris.data.astype(np.float32)
    yi = IRIS_NAMES[iris.target]
    lr = LogisticRegression(max_iter=1000, C=0.05).fit(Xi[tr], yi[tr])
    onnx.save(to_onnx(lr, Xi[:1], target_opset=OPSETS), d / "iris_logreg_zipmap.onnx")
    iris_cols = ["sepal length", "sepal width", "species", "petal length", "petal width"]
    _write_csv(d / "iris.csv", iris_cols, [Xi[te, 0], Xi[te, 1], yi[te], Xi[te, 2], Xi[te, 3]])
    out["iris_zipmap"] = Case("iris_zipmap", d / "iris_logreg_zipmap.onnx", d / "iris.csv", "classification",
                              label="species", truth=yi[te], ort_feeds={"X": Xi[te]})

    # Multiclass MLP with string labels: plain MatMul/Add, classes from ArrayFeatureExtractor's table.
    mlp = MLPClassifier(hidden_layer_sizes=(8,), max_iter=300, random_state=0).fit(Xi[tr], yi[tr])
    onx = to_onnx(mlp, Xi[:1], options={id(mlp): {"zipmap": False}}, target_opset=OPSETS)
    onnx.save(onx, d / "iris_mlp.onnx")
    out["iris_mlp"] = Case("iris_mlp", d / "iris_mlp.onnx", d / "iris.csv", "classification", label="species",
                           truth=yi[te], ort_feeds={"X": Xi[te]})

    # One input per column, one of them strings: ColumnTransformer(StandardScaler, OneHotEncoder) +
    # LogisticRegression. The CSV also has an id column no input reads.
    rng = np.random.default_rng(2)
    n = 400
    color = rng.choice(["red", "green", "blue"], n)
    x1 = rng.normal(size=n).astype(np.float32)
    x2 = rng.normal(size=n).astype(np.float32)
    ym = ((x1 + 1.5 * (color == "red") - 0.5 * x2 + rng.normal(scale=0.7, size=n)) > 0.5).astype(np.int64)
    frame = pd.DataFrame({"x1": x1, "color": color, "x2": x2})
    ct = ColumnTransformer([("num", StandardScaler(), ["x1", "x2"]), ("cat", OneHotEncoder(), ["color"])])
    mixed = Pipeline([("ct", ct), ("lr", LogisticRegression())]).fit(frame.iloc[:250], ym[:250])
    onx = convert_sklearn(
        mixed,
        initial_types=[("x1", FloatTensorType([None, 1])), ("color", StringTensorType([None, 1])),
                       ("x2", FloatTensorType([None, 1]))],
        options={id(mixed.steps[-1][1]): {"zipmap": False}},
        target_opset=OPSETS,
    )
    onnx.save(onx, d / "mixed.onnx")
    te = np.arange(250, n)
    _write_csv(d / "mixed.csv", ["id", "x2", "label", "color", "x1"], [te, x2[te], ym[te], color[te], x1[te]])
    out["mixed_inputs"] = Case("mixed_inputs", d / "mixed.onnx", d / "mixed.csv", "classification", label="label",
                               truth=ym[te], ort_feeds={"x1": x1[te, None], "color": color[te, None].astype(object),
                                                        "x2": x2[te, None]})

    # The committed digits model on .npy data with a separate labels file.
    dg = load_digits()
    Xd = dg.data.astype(np.float32)
    np.save(d / "digits.npy", Xd)
    np.save(d / "digits_labels.npy", dg.target.astype(np.int64))
    out["digits_npy"] = Case("digits_npy", REPO_ROOT / "examples" / "digits_mlp.onnx", d / "digits.npy", "classification",
                             labels_file=d / "digits_labels.npy", truth=dg.target, ort_feeds={"input": Xd})

    # Regression: Ridge (LinearRegressor) on CSV; MLPRegressor on a 2-D .npy with the target in column 0.
    db = load_diabetes()
    tr, te = _split(len(db.target), seed=3)
    Xr = db.data.astype(np.float32)
    ridge = Ridge(alpha=0.5).fit(Xr[tr], db.target[tr])
    onnx.save(to_onnx(ridge, Xr[:1], target_opset=OPSETS), d / "ridge.onnx")
    _write_csv(d / "diabetes.csv", list(db.feature_names) + ["progression"],
               [Xr[te, j] for j in range(Xr.shape[1])] + [db.target[te]])
    out["ridge"] = Case("ridge", d / "ridge.onnx", d / "diabetes.csv", "regression", label="progression",
                        truth=db.target[te], ort_feeds={"X": Xr[te]})
    mlpr = MLPRegressor(hidden_layer_sizes=(16,), max_iter=500, learning_rate_init=0.05, random_state=0)
    mlpr.fit(Xr[tr] * 10, db.target[tr])
    onnx.save(to_onnx(mlpr, Xr[:1], target_opset=OPSETS), d / "mlp_reg.onnx")
    table = np.column_stack([db.target[te], Xr[te] * 10]).astype(np.float64)
    np.save(d / "diabetes_table.npy", table)
    out["mlp_regression_npy"] = Case("mlp_regression_npy", d / "mlp_reg.onnx", d / "diabetes_table.npy", "regression",
                                     label="0", truth=db.target[te],
                                     ort_feeds={"X": table[:, 1:].astype(np.float32)})
    return out


def _run(berth_bin: Path, *args, check_json: bool = True):
    proc = subprocess.run([str(berth_bin), "eval", *map(str, args)], capture_output=True, text=True,
                          timeout=RUN_TIMEOUT_S)
    report = None
    if check_json and proc.returncode in (0, 1):
        try:
            report = json.loads(proc.stdout)
        except json.JSONDecodeError:
            pytest.fail(f"berth eval printed no JSON (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc, report


def _evaluate(berth_bin: Path, case: Case, tmp_path: Path, *extra):
    preds = tmp_path / f"{case.name}_predictions"
    proc, report = _run(berth_bin, *case.args(), "--json", "--save-predictions", preds, *extra)
    assert proc.returncode == 0, f"berth eval failed ({proc.returncode}):\n{proc.stderr}"
    return report, preds


# ---------------------------------------------------------------------------
# comparisons


def _undefined(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _close(name: str, got, want) -> None:
    if _undefined(want):
        assert got is None, f"{name}: berth {got}, sklearn undefined ({want})"
        return
    assert got is not None, f"{name}: berth reports null, sklearn {want!r}"
    assert abs(got - float(want)) <= TOL, f"{name}: berth {got!r} vs sklearn {float(want)!r} (diff {abs(got - want):.3g})"


def _ort_outputs(case: Case) -> list:
    sess = ort.InferenceSession(str(case.model), providers=["CPUExecutionProvider"])
    return sess.run(None, case.ort_feeds)


def _check_classification(case: Case, report: dict, preds: Path) -> None:
    y = np.load(preds / "labels.npy")
    yp = np.load(preds / "predictions.npy")
    assert y.tolist() == np.asarray(case.truth).tolist(), "berth read other labels than the file holds"
    assert report["task"] == "classification" and report["rows"] == len(y)
    m = report["metrics"]
    assert set(m) == {"accuracy", "precision_macro", "recall_macro", "f1_macro", "precision_weighted",
                      "recall_weighted", "f1_weighted", "roc_auc", "log_loss"}

    _close("accuracy", m["accuracy"], M.accuracy_score(y, yp))
    for avg in ("macro", "weighted"):
        p, r, f, _ = M.precision_recall_fscore_support(y, yp, average=avg, zero_division=0)
        _close(f"precision_{avg}", m[f"precision_{avg}"], p)
        _close(f"recall_{avg}", m[f"recall_{avg}"], r)
        _close(f"f1_{avg}", m[f"f1_{avg}"], f)

    labels = unique_labels(y, yp)
    p, r, f, s = M.precision_recall_fscore_support(y, yp, average=None, labels=labels, zero_division=0)
    rows = report["per_class"]
    assert [row["label"] for row in rows] == labels.tolist()
    for k, row in enumerate(rows):
        _close(f"precision[{row['label']}]", row["precision"], p[k])
        _close(f"recall[{row['label']}]", row["recall"], r[k])
        _close(f"f1[{row['label']}]", row["f1"], f[k])
        assert row["support"] == s[k]
    cm = report["confusion_matrix"]
    assert cm["labels"] == labels.tolist()
    assert cm["counts"] == M.confusion_matrix(y, yp, labels=labels).tolist()

    P = np.load(preds / "probabilities.npy")
    classes = np.load(preds / "classes.npy")
    assert P.dtype == np.float64 and P.shape == (len(y), len(classes))
    assert report["classes"] == classes.tolist()
    assert classes.tolist() == sorted(classes.tolist()), "probability columns must be in sklearn's sorted order"
    if len(classes) == 2:
        want_auc = M.roc_auc_score(y, P[:, 1]) if len(np.unique(y)) == 2 else math.nan
    else:
        want_auc = M.roc_auc_score(y, P, multi_class="ovr", average="macro", labels=classes)
    _close("roc_auc", m["roc_auc"], want_auc)
    for k, c in enumerate(classes):
        row = next((row for row in rows if row["label"] == c.item()), None)
        if row is not None:
            want = M.roc_auc_score(y == c, P[:, k]) if 0 < np.sum(y == c) < len(y) else math.nan
            _close(f"roc_auc[{c}]", row["roc_auc"], want)
    _close("log_loss", m["log_loss"], M.log_loss(y, P, labels=classes))

    # Berth's predictions are the model's: compare with ONNX Runtime on the same rows.
    ort_out = _ort_outputs(case)
    ort_labels = np.asarray(ort_out[0]).reshape(-1)
    agree = np.mean(ort_labels.astype(yp.dtype) == yp)
    assert agree >= 0.99, f"predicted labels agree with ORT on only {agree:.1%} of rows"
    ort_probs = ort_out[1]
    if isinstance(ort_probs, list):  # ZipMap: a list of {class: probability}
        ort_probs = np.array([[row[c.item()] for c in classes] for row in ort_probs])
    np.testing.assert_allclose(P, np.asarray(ort_probs, dtype=np.float64), atol=PROB_ATOL, rtol=0)


def _check_regression(case: Case, report: dict, preds: Path) -> None:
    y = np.load(preds / "labels.npy")
    yp = np.load(preds / "predictions.npy")
    assert y.dtype == np.float64 and yp.dtype == np.float64 and y.shape == yp.shape == (len(case.truth),)
    np.testing.assert_array_equal(y, np.asarray(case.truth, dtype=np.float64))
    m = report["metrics"]
    assert set(m) == {"mse", "rmse", "mae", "r2"}
    _close("mse", m["mse"], M.mean_squared_error(y, yp))
    _close("rmse", m["rmse"], M.root_mean_squared_error(y, yp))
    _close("mae", m["mae"], M.mean_absolute_error(y, yp))
    _close("r2", m["r2"], M.r2_score(y, yp))
    ort_pred = np.asarray(_ort_outputs(case)[0], dtype=np.float64).reshape(-1)
    np.testing.assert_allclose(yp, ort_pred, rtol=1e-4, atol=1e-3)


# ---------------------------------------------------------------------------
# metrics equal sklearn's


@pytest.mark.parametrize("name", ["binary_logreg", "iris_zipmap", "iris_mlp", "mixed_inputs", "digits_npy"])
def test_classification_metrics_equal_sklearn(berth_bin, cases, tmp_path, name):
    case = cases[name]
    report, preds = _evaluate(berth_bin, case, tmp_path, "--batch-size", "64")
    _check_classification(case, report, preds)


@pytest.mark.parametrize("name", ["ridge", "mlp_regression_npy"])
def test_regression_metrics_equal_sklearn(berth_bin, cases, tmp_path, name):
    case = cases[name]
    report, preds = _evaluate(berth_bin, case, tmp_path, "--batch-size", "50")
    _check_regression(case, report, preds)


def test_class_order_comes_from_the_model(berth_bin, cases, tmp_path):
    report, _ = _evaluate(berth_bin, cases["iris_zipmap"], tmp_path)
    assert report["class_order"] == "zipmap"
    assert report["classes"] == IRIS_NAMES.tolist()
    report, _ = _evaluate(berth_bin, cases["iris_mlp"], tmp_path)
    assert report["class_order"] == "class_table"
    report, _ = _evaluate(berth_bin, cases["binary_logreg"], tmp_path)
    assert report["class_order"] == "classifier" and report["classes"] == [0, 1]


def test_table_output(berth_bin, cases):
    case = cases["iris_zipmap"]
    proc, _ = _run(berth_bin, *case.args(), check_json=False)
    assert proc.returncode == 0, proc.stderr
    for text in ("accuracy", "f1_macro", "roc_auc", "log_loss", "confusion matrix", "setosa", "virginica"):
        assert text in proc.stdout, f"'{text}' missing from:\n{proc.stdout}"


# ---------------------------------------------------------------------------
# gates


def test_gates_pass_and_miss(berth_bin, cases):
    case = cases["binary_logreg"]
    proc, report = _run(berth_bin, *case.args(), "--json", "--min", "accuracy=0.5", "--gate", "log_loss<=5")
    assert proc.returncode == 0, proc.stderr
    assert report["passed"] is True and [g["passed"] for g in report["gates"]] == [True, True]

    proc, report = _run(berth_bin, *case.args(), "--json", "--min", "accuracy=0.5", "--min", "accuracy=1.01",
                        "--max", "log_loss=0.000001")
    assert proc.returncode == 1, f"a missed gate must exit 1, got {proc.returncode}: {proc.stderr}"
    assert report["passed"] is False
    assert [g["passed"] for g in report["gates"]] == [True, False, False]
    assert "accuracy >= 1.01" in proc.stderr and "log_loss <= 0.000001" in proc.stderr.replace("1e-06", "0.000001")

    reg = cases["ridge"]
    proc, _ = _run(berth_bin, *reg.args(), "--max", "rmse=1", check_json=False)
    assert proc.returncode == 1 and "rmse <= 1" in proc.stderr

    proc, _ = _run(berth_bin, *reg.args(), "--min", "accuracy=0.9", check_json=False)
    assert proc.returncode == 2 and "unknown metric 'accuracy'" in proc.stderr, proc.stderr


# ---------------------------------------------------------------------------
# bad input: a clear error naming the row and column, non-zero exit


def _bad(berth_bin, model, data: Path, label: str, *fragments, task="classification"):
    proc, _ = _run(berth_bin, model, "--data", data, "--label", label, "--task", task, check_json=False)
    assert proc.returncode == 2, f"expected exit 2, got {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
    for f in fragments:
        assert f in proc.stderr, f"'{f}' missing from the error: {proc.stderr!r}"
    assert "Traceback" not in proc.stderr and "Fatal error" not in proc.stderr


def _csv_lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def test_bad_csv_missing_feature_column(berth_bin, cases, tmp_path):
    case = cases["binary_logreg"]
    lines = _csv_lines(case.data)
    rows = [line.split(",") for line in lines]
    cut = tmp_path / "missing.csv"
    cut.write_text("\n".join(",".join(r[:-1]) for r in rows) + "\n")
    _bad(berth_bin, case.model, cut, "diagnosis", "takes 30 features", "29 feature columns", "'mean radius'")

    mixed = cases["mixed_inputs"]
    rows = [line.split(",") for line in _csv_lines(mixed.data)]
    col = rows[0].index("color")
    no_color = tmp_path / "no_color.csv"
    no_color.write_text("\n".join(",".join(v for j, v in enumerate(r) if j != col) for r in rows) + "\n")
    _bad(berth_bin, mixed.model, no_color, "label", "no column 'color'", "model input 'color'")


def test_bad_csv_non_numeric_value(berth_bin, cases, tmp_path):
    case = cases["binary_logreg"]
    lines = _csv_lines(case.data)
    fields = lines[3].split(",")
    fields[1] = "abc"
    lines[3] = ",".join(fields)
    bad = tmp_path / "non_numeric.csv"
    bad.write_text("\n".join(lines) + "\n")
    _bad(berth_bin, case.model, bad, "diagnosis", "row 3 (line 4)", "column 'mean radius'", "'abc' is not a number")

    reg = cases["ridge"]
    lines = _csv_lines(reg.data)
    lines[7] = ",".join(lines[7].split(",")[:-1] + ["n/a"])
    bad = tmp_path / "non_numeric_target.csv"
    bad.write_text("\n".join(lines) + "\n")
    _bad(berth_bin, reg.model, bad, "progression", "row 7 (line 8)", "column 'progression'", "'n/a' is not a number",
         task="regression")


def test_bad_csv_ragged_rows(berth_bin, cases, tmp_path):
    case = cases["binary_logreg"]
    lines = _csv_lines(case.data)
    lines[5] += ",1.0"
    bad = tmp_path / "ragged.csv"
    bad.write_text("\n".join(lines) + "\n")
    _bad(berth_bin, case.model, bad, "diagnosis", "row 5 (line 6)", "32 fields", "31 columns")
    lines = _csv_lines(case.data)
    lines[9] = ",".join(lines[9].split(",")[:10])
    bad.write_text("\n".join(lines) + "\n")
    _bad(berth_bin, case.model, bad, "diagnosis", "row 9 (line 10)", "10 fields")


def test_bad_csv_empty_file(berth_bin, cases, tmp_path):
    case = cases["binary_logreg"]
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    _bad(berth_bin, case.model, empty, "diagnosis", "empty.csv is empty", "header")
    header_only = tmp_path / "header_only.csv"
    header_only.write_text(_csv_lines(case.data)[0] + "\n")
    _bad(berth_bin, case.model, header_only, "diagnosis", "header but no data rows")


def test_bad_csv_label_column_absent(berth_bin, cases):
    case = cases["binary_logreg"]
    _bad(berth_bin, case.model, case.data, "target", "no column 'target'", "--label", "'diagnosis'")


def test_bad_labels_of_the_wrong_kind(berth_bin, cases, tmp_path):
    # String labels in the data, integer labels in the model.
    case = cases["binary_logreg"]
    lines = _csv_lines(case.data)
    lines[4] = "benign," + lines[4].split(",", 1)[1]
    bad = tmp_path / "string_label.csv"
    bad.write_text("\n".join(lines) + "\n")
    _bad(berth_bin, case.model, bad, "diagnosis", "row 4 (line 5)", "column 'diagnosis'", "'benign' is not a number")
