"""Every post_transform, tree aggregate function and SVM kernel type, Berth vs ONNX Runtime.

The zoo (test_ml_zoo.py) covers what converters emit; converters emit only some attribute
values (e.g. no PROBIT, no MIN/MAX aggregation). Here small scikit-learn models are converted
with skl2onnx and their ai.onnx.ml node is rewritten to each remaining value, then Berth
(`berth run`) and ORT run the same rows. Labels must be equal; scores within ATOL absolute (below
1; relative above 1), NaN where ORT gives NaN (PROBIT of a value outside (0, 1)).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import scipy.special
import onnx
import onnxruntime as ort
import pytest
from onnx import helper

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import berthpy  # noqa: E402

ATOL = 1e-5
ROWS = 300


def _data(n_classes: int, seed: int = 0):
    from sklearn.datasets import make_classification
    x, y = make_classification(n_samples=400, n_features=6, n_informative=4, n_redundant=0,
                               n_classes=n_classes, n_clusters_per_class=1, random_state=seed)
    rng = np.random.default_rng(seed)
    rows = np.concatenate([x[:ROWS - 4], rng.normal(0, 5, (4, 6))]).astype(np.float32)
    return x.astype(np.float32), y, rows


def _convert(model, n_features: int, zipmap: bool = False) -> onnx.ModelProto:
    from skl2onnx import to_onnx
    opts = {id(model): {"zipmap": False}} if not zipmap and hasattr(model, "predict_proba") else None
    return to_onnx(model, np.zeros((1, n_features), np.float32), options=opts,
                   target_opset={"": 17, "ai.onnx.ml": 3})


def _rewrite(m: onnx.ModelProto, op: str, **attrs) -> onnx.ModelProto:
    m = onnx.ModelProto.FromString(m.SerializeToString())
    node = next(n for n in m.graph.node if n.op_type == op)
    for name, value in attrs.items():
        kept = [a for a in node.attribute if a.name != name]
        del node.attribute[:]
        node.attribute.extend(kept + [helper.make_attribute(name, value)])
    return m


def _compare(berth_bin: Path, m: onnx.ModelProto, rows: np.ndarray, tmp_path: Path, tag: str,
             first_column_only: bool = False, score_space=None):
    path = tmp_path / f"{tag}.onnx"
    onnx.save(m, path)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    want = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {name: rows})))
    proc, got = berthpy.berth_run(berth_bin, path, {name: rows}, tmp_path / tag)
    assert proc.returncode == 0, f"{tag}: berth failed: {proc.stderr}"
    for out, w in want.items():
        g = got[berthpy.safe_output_name(out)]
        if first_column_only and w.ndim == 2:
            g, w = g[:, :1], w[:, :1]
        assert g.shape == w.shape and g.dtype == w.dtype, f"{tag}/{out}: {g.dtype}{g.shape} vs {w.dtype}{w.shape}"
        if w.dtype.kind in "iuUO":
            assert (g == w).all(), f"{tag}/{out}: {(g != w).sum()} labels differ"
        else:
            if score_space is not None:
                g, w = score_space(g.astype(np.float64)), score_space(w.astype(np.float64))
            both_nan = np.isnan(g) & np.isnan(w)
            assert (np.isnan(g) == np.isnan(w)).all(), f"{tag}/{out}: NaN pattern differs"
            # Absolute below 1, relative above: float32 itself cannot resolve 1e-5 of a value of 100.
            diff = np.where(both_nan, 0, np.abs(g.astype(np.float64) - w) / np.maximum(1, np.abs(w)))
            assert diff.max() <= ATOL, f"{tag}/{out}: max scaled diff {diff.max():.3g} > {ATOL}"


TRANSFORMS = ["NONE", "SOFTMAX", "LOGISTIC", "SOFTMAX_ZERO", "PROBIT"]


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("transform", TRANSFORMS)
def test_tree_classifier_post_transforms(berth_bin, tmp_path, n_classes, transform):
    from sklearn.ensemble import GradientBoostingClassifier
    x, y, rows = _data(n_classes)
    m = _convert(GradientBoostingClassifier(n_estimators=8, max_depth=3, random_state=0).fit(x, y), 6)
    # One binary score under PROBIT: ORT writes column 0 only and leaves column 1 uninitialised
    # (Berth writes 0 there), so only column 0 is comparable.
    _compare(berth_bin, _rewrite(m, "TreeEnsembleClassifier", post_transform=transform), rows, tmp_path,
             f"gb{n_classes}_{transform}", first_column_only=n_classes == 2 and transform == "PROBIT")


@pytest.mark.parametrize("aggregate", ["SUM", "AVERAGE", "MIN", "MAX"])
@pytest.mark.parametrize("targets", [1, 2])
def test_tree_regressor_aggregates(berth_bin, tmp_path, aggregate, targets):
    from sklearn.ensemble import RandomForestRegressor
    x, y, rows = _data(2)
    yy = np.stack([y + x[:, 0], x[:, 1] * 2], 1)[:, :targets]
    model = RandomForestRegressor(n_estimators=6, max_depth=4, random_state=0).fit(x, yy if targets > 1 else yy[:, 0])
    m = _convert(model, 6)
    _compare(berth_bin, _rewrite(m, "TreeEnsembleRegressor", aggregate_function=aggregate), rows, tmp_path,
             f"rf{targets}_{aggregate}")


@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("n_classes", [2, 3])
def test_linear_classifier_post_transforms(berth_bin, tmp_path, transform, n_classes):
    from sklearn.linear_model import LogisticRegression
    x, y, rows = _data(n_classes, seed=1)
    m = _convert(LogisticRegression(max_iter=500).fit(x, y), 6)
    _compare(berth_bin, _rewrite(m, "LinearClassifier", post_transform=transform), rows, tmp_path,
             f"lr{n_classes}_{transform}")


@pytest.mark.parametrize("kernel", ["linear", "poly", "rbf", "sigmoid"])
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("probability", [False, True])
def test_svm_classifier_kernels(berth_bin, tmp_path, kernel, n_classes, probability):
    from sklearn.svm import SVC
    x, y, rows = _data(n_classes, seed=2)
    model = SVC(kernel=kernel, probability=probability, degree=3, gamma=0.1, coef0=0.5, random_state=0).fit(x, y)
    _compare(berth_bin, _convert(model, 6), rows, tmp_path, f"svc{n_classes}_{kernel}_{int(probability)}")


@pytest.mark.parametrize("kernel", ["linear", "poly", "rbf", "sigmoid"])
def test_svm_regressor_kernels(berth_bin, tmp_path, kernel):
    from sklearn.svm import SVR
    x, y, rows = _data(2, seed=3)
    model = SVR(kernel=kernel, degree=2, gamma=0.1, coef0=0.5).fit(x, x[:, 0] * 2 + y)
    _compare(berth_bin, _convert(model, 6), rows, tmp_path, f"svr_{kernel}")


def test_one_class_svm(berth_bin, tmp_path):
    from sklearn.svm import OneClassSVM
    x, _, rows = _data(2, seed=4)
    _compare(berth_bin, _convert(OneClassSVM(gamma=0.1).fit(x), 6), rows, tmp_path, "ocsvm")


def test_linear_svc_and_linear_regressor_probit(berth_bin, tmp_path):
    from sklearn.linear_model import LinearRegression
    from sklearn.svm import LinearSVC
    x, y, rows = _data(3, seed=5)
    _compare(berth_bin, _convert(LinearSVC().fit(x, y), 6), rows, tmp_path, "linearsvc")
    m = _convert(LinearRegression().fit(x, (y > 0).astype(np.float32) * 0.5 + 0.2), 6)
    # PROBIT is sqrt(2)·erfinv(2v-1): its slope grows without bound as the score v nears 0 or 1, so
    # a float32 rounding difference in v (1 ulp of 0.99 is 6e-8) can move the output by more than
    # 1e-5. Compare in score space instead, Φ(output) = v, where the tolerance means what it says.
    _compare(berth_bin, _rewrite(m, "LinearRegressor", post_transform="PROBIT"), rows, tmp_path, "linreg_probit",
             score_space=lambda p: 0.5 * (1 + scipy.special.erf(p / np.sqrt(2))))
