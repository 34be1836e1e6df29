#!/usr/bin/env python3
"""Build Berth's classic-ML model zoo: small scikit-learn / XGBoost / LightGBM / CatBoost models
exported to ONNX (mostly the `ai.onnx.ml` domain), each with a few thousand test rows.

Writes into --out (default: <repo>/examples/generated/zoo/, git-ignored; never commit the outputs):

  <name>.onnx                     the model
  <name>.input.<input>.npy        its test rows, one file per graph input (float32 / float64 /
                                  int64 / NumPy unicode `<U`), ROWS rows each
  zoo_manifest.json               name, file, task, source, inputs, outputs (with their kind:
                                  label | probabilities | zipmap | scores | values), the ops and
                                  opsets each model uses, and notable ai.onnx.ml attributes

The test rows are the training distribution (widened) plus rows with extreme values: zeros,
-0.0, +-1e-40 (float32 subnormal), +-1e-30, +-1e-6, +-1e6, +-1e15, +-1e30 (whole rows and one
feature at a time), exactly the tree thresholds (and one float32 ulp either side) for tree
models, NaN for tree models and the imputer, and unknown / empty / non-ASCII strings and huge
int64 values for categorical inputs.

Models (zipmap off unless named `*_zipmap`, where the classifier ends in a ZipMap and ONNX
Runtime returns a list of dicts):
  scikit-learn (skl2onnx, target opset {'': 17, 'ai.onnx.ml': 3}; skl2onnx itself picks the
  lowest opsets its ops need, so most files import ai.onnx.ml 1):
    logreg_binary[_zipmap], logreg_multi[_zipmap], logreg_strlabels[_zipmap] (string labels),
    linreg, ridge_2targets, dtree_clf[_zipmap], dtree_clf_intlabels_zipmap (labels -7/3/42),
    dtree_clf_int64 (int64 input), dtree_reg, rf_clf[_zipmap], rf_reg, gb_clf_binary[_zipmap],
    gb_clf_multi, gb_reg, hgb_clf, hgb_reg, svc_linear[_zipmap], svc_rbf[_zipmap], svr_rbf,
    scaler_logreg_zipmap, scaler_rf_clf, mlp_clf[_zipmap], columns_onehot_logreg_zipmap
    (ColumnTransformer: OneHotEncoder over string and int64 columns + StandardScaler over
    floats, six graph inputs), onehot_strings_logreg (one [N,2] string tensor input),
    label_encoder (string -> int64), imputer_minmax_logreg, normalizer_l1 / _l2 / _max,
    binarizer_logreg
  rewrites made here (ORT runs them; no converter emits them for these models):
    rf_reg_double_v3   rf_reg on float64 input as TreeEnsembleRegressor ai.onnx.ml 3 with
                       nodes_values_as_tensor / target_weights_as_tensor (double thresholds)
    rf_reg_v5, xgb_reg_v5   the same forests as ai.onnx.ml 5 `TreeEnsemble` (nodes_splits,
                       tree_roots, leaf_weights, nodes_modes as a uint8 tensor)
  XGBoost (onnxmltools, target opset 15 - its maximum): xgb_clf (3 classes), xgb_clf_binary, xgb_reg
  LightGBM (onnxmltools, target opset 15): lgbm_clf_zipmap, lgbm_clf (3 classes), lgbm_clf_binary, lgbm_reg,
    lgbm_reg_categorical (categorical splits as BRANCH_EQ chains that share nodes: DAG-shaped trees),
    lgbm_reg_categorical_v5 (the same as ai.onnx.ml 5 TreeEnsemble: each chain one BRANCH_MEMBER node, a tree again)
  CatBoost (its own save_model(format="onnx"), always with ZipMap): catboost_clf_zipmap (3 classes),
    catboost_clf_binary_zipmap, catboost_reg

Packages: xgboost (as `xgboost-cpu` on Linux x86_64: the plain `xgboost` wheel pulls ~470 MB of
NVIDIA NCCL), lightgbm, catboost and onnxmltools all install from PyPI; a model whose package is
missing is skipped with a message (the manifest lists only what was built).

Workaround: skl2onnx 1.20 cannot convert HistGradientBoosting* (it passes a Python bool into an
INTS attribute, "Expected an int, got a boolean"); build_zoo patches
skl2onnx.common.tree_ensemble.add_node to cast that flag to int.

Deterministic: fixed seeds and single-threaded training; the same package versions give the
same files. Runs in ~20-40 s.

Usage:  python scripts/make_zoo.py [--out DIR] [--only NAME,...] [--rows N] [--list]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parent))
import berthpy  # noqa: E402

REPO_ROOT = berthpy.REPO_ROOT
DEFAULT_OUT = REPO_ROOT / "examples" / "generated" / "zoo"
MANIFEST = "zoo_manifest.json"

ROWS = 2000
N_TRAIN = 800
N_FEATURES = 10
SKL_OPSET = {"": 17, "ai.onnx.ml": 3}
MLTOOLS_OPSET = 15  # onnxmltools 1.16 refuses anything higher

# Extreme magnitudes placed in whole rows and one feature at a time.
EXTREMES = (1e30, -1e30, 1e15, -1e15, 1e6, -1e6, 1e-6, -1e-6, 1e-30, -1e-30, 1e-40, -1e-40, -0.0)
INT_EXTREMES = (0, -1, 1, 2**31, -(2**31), 2**53 + 1, 2**62, -(2**62), np.iinfo(np.int64).max, np.iinfo(np.int64).min)
ODD_STRINGS = ("", " ", "zebra", "RED", "red ", "ünïcødé", "😀", "x" * 200, "0", "nan")


# ---------------------------------------------------------------------------
# registry


@dataclass
class Built:
    """What a builder returns: the model, its test inputs, and facts for the manifest."""
    model: onnx.ModelProto
    inputs: dict[str, np.ndarray]
    task: str                     # binary | multiclass | regression | transform
    source: str                   # sklearn | xgboost | lightgbm | catboost | rewrite
    estimator: str
    notes: str = ""


@dataclass
class Entry:
    name: str
    fn: Callable[..., Built]
    kwargs: dict = field(default_factory=dict)
    requires: tuple[str, ...] = ()


ZOO: dict[str, Entry] = {}


def register(name: str, fn: Callable[..., Built], requires: tuple[str, ...] = (), **kwargs) -> None:
    assert name not in ZOO, name
    ZOO[name] = Entry(name, fn, kwargs, requires)


# ---------------------------------------------------------------------------
# data


def rng_for(name: str) -> np.random.Generator:
    """A generator seeded from the model name (stable across runs and Python versions)."""
    return np.random.default_rng(sum((i + 1) * b for i, b in enumerate(name.encode())) % (2**32))


def clf_data(n_classes: int, seed: int, n_features: int = N_FEATURES):
    from sklearn.datasets import make_classification
    X, y = make_classification(n_samples=N_TRAIN, n_features=n_features, n_informative=6, n_redundant=2,
                               n_classes=n_classes, n_clusters_per_class=1, class_sep=1.0, random_state=seed)
    return X.astype(np.float32), y.astype(np.int64)


def reg_data(seed: int, n_targets: int = 1, n_features: int = N_FEATURES):
    """Regression data with targets scaled to unit variance, so absolute tolerances mean something."""
    from sklearn.datasets import make_regression
    X, y = make_regression(n_samples=N_TRAIN, n_features=n_features, n_informative=7, n_targets=n_targets,
                           noise=5.0, random_state=seed)
    y = (y - y.mean(axis=0)) / y.std(axis=0)
    return X.astype(np.float32), y.astype(np.float32)


def float_rows(X: np.ndarray, rng: np.random.Generator, n: int, *, thresholds=(), nan: bool = False,
               extremes=EXTREMES, dtype=np.float32) -> np.ndarray:
    """n test rows shaped like X: extremes, tree thresholds, NaNs, then the (widened) training distribution."""
    F = X.shape[1]
    Xd = X.astype(np.float64)
    lo, hi, sd = Xd.min(0), Xd.max(0), Xd.std(0) + 1e-12

    def base() -> np.ndarray:
        return Xd[rng.integers(len(Xd))].copy()

    rows = [np.zeros(F)]
    for m in extremes:
        rows.append(np.full(F, m))
        for j in range(F):
            r = base()
            r[j] = m
            rows.append(r)
    # exactly at split thresholds, and one ulp (of the threshold's dtype) either side
    for k, (f, t, tdt) in enumerate(thresholds):
        for v in ((t,) if k % 3 else (t, np.nextafter(tdt(t), tdt(np.inf)), np.nextafter(tdt(t), tdt(-np.inf)))):
            r = base()
            r[f] = float(v)
            rows.append(r)
    if nan:
        rows.append(np.full(F, np.nan))
        for j in range(F):
            r = base()
            r[j] = np.nan
            rows.append(r)
            r = base()
            r[rng.choice(F, size=max(2, F // 3), replace=False)] = np.nan
            rows.append(r)
    head = np.asarray(rows, dtype=np.float64)[:n]
    m = n - len(head)
    body = Xd[rng.integers(len(Xd), size=m)] + rng.standard_normal((m, F)) * 0.5 * sd
    wide = rng.random(m) < 0.15
    body[wide] = rng.uniform(lo - 2 * sd, hi + 2 * sd, size=(int(wide.sum()), F))
    out = np.concatenate([head, body]).astype(dtype)
    return np.ascontiguousarray(out)


def tree_thresholds(model: onnx.ModelProto, limit: int = 400, feature_map: Callable[[int], int] | None = None):
    """(feature, threshold, threshold dtype) of the split nodes of every TreeEnsemble* node, evenly thinned to `limit`."""
    seen = set()
    for node in model.graph.node:
        if not node.op_type.startswith("TreeEnsemble"):
            continue
        a = {at.name: at for at in node.attribute}
        feats = list(a["nodes_featureids"].ints)
        if "nodes_splits" in a:  # ai.onnx.ml 5 TreeEnsemble: every entry is a branch
            vals = numpy_helper.to_array(a["nodes_splits"].t)
            modes = ["BRANCH"] * len(feats)
        elif "nodes_values_as_tensor" in a:
            vals = numpy_helper.to_array(a["nodes_values_as_tensor"].t)
            modes = [m.decode() for m in a["nodes_modes"].strings]
        else:
            vals = np.asarray(a["nodes_values"].floats, dtype=np.float32)
            modes = [m.decode() for m in a["nodes_modes"].strings]
        for f, v, mode in zip(feats, vals, modes):
            if mode != "LEAF":
                f = feature_map(f) if feature_map else f
                seen.add((int(f), float(v), vals.dtype.type))
    pairs = sorted(seen, key=lambda p: (p[0], p[1]))
    if len(pairs) > limit:
        pairs = [pairs[i] for i in np.linspace(0, len(pairs) - 1, limit).astype(int)]
    return pairs


def int_rows(X: np.ndarray, rng: np.random.Generator, n: int, thresholds=()) -> np.ndarray:
    F = X.shape[1]
    rows = [np.zeros(F, np.int64)]
    for m in INT_EXTREMES:
        rows.append(np.full(F, m, np.int64))
        for j in range(F):
            r = X[rng.integers(len(X))].copy()
            r[j] = m
            rows.append(r)
    for f, t, _ in thresholds:
        for v in (np.floor(t), np.ceil(t)):
            r = X[rng.integers(len(X))].copy()
            r[f] = int(v)
            rows.append(r)
    head = np.asarray(rows, np.int64)[:n]
    m = n - len(head)
    body = X[rng.integers(len(X), size=m)] + rng.integers(-3, 4, size=(m, F))
    return np.ascontiguousarray(np.concatenate([head, body]).astype(np.int64))


def string_column(values: list[str], rng: np.random.Generator, n: int) -> np.ndarray:
    """[n] strings: the odd strings first, then the known values (and ~3% unknown ones)."""
    head = list(ODD_STRINGS)
    body = list(rng.choice(values, size=n - len(head)))
    for i in rng.choice(len(body), size=max(1, len(body) // 33), replace=False):
        body[i] = f"unseen_{i % 7}"
    return np.asarray(head + body, dtype=np.str_)


# ---------------------------------------------------------------------------
# conversion helpers


def skl(est, inputs, zipmap: bool = False, options: dict | None = None) -> onnx.ModelProto:
    """skl2onnx conversion; `inputs` are (name, skl2onnx type) pairs; zipmap off unless asked."""
    from skl2onnx import convert_sklearn
    opts = dict(options or {})
    final = est.steps[-1][1] if hasattr(est, "steps") else est
    if hasattr(final, "classes_") and not zipmap:
        opts.setdefault(id(final), {})["zipmap"] = False
    return convert_sklearn(est, initial_types=list(inputs), target_opset=SKL_OPSET, options=opts or None)


def ftype(n_features: int = N_FEATURES, name: str = "input"):
    from skl2onnx.common.data_types import FloatTensorType
    return [(name, FloatTensorType([None, n_features]))]


def patch_skl2onnx_hgb() -> None:
    """skl2onnx 1.20 + HistGradientBoosting*: leaves pass `missing=False` (a bool) into an INTS attribute."""
    import skl2onnx.common.tree_ensemble as te
    if getattr(te.add_node, "_berth_patched", False):
        return
    orig = te.add_node

    def add_node(*args, **kwargs):
        if "nodes_missing_value_tracks_true" in kwargs:
            kwargs["nodes_missing_value_tracks_true"] = int(kwargs["nodes_missing_value_tracks_true"])
        return orig(*args, **kwargs)

    add_node._berth_patched = True
    te.add_node = add_node


# ---------------------------------------------------------------------------
# builders: scikit-learn


def _classifier(name, est, n_classes, *, zipmap=False, seed, tree=False, labels=None, notes="", nan=None,
                extremes=EXTREMES, input_name="input"):
    X, y = clf_data(n_classes, seed)
    if labels is not None:
        y = np.asarray(labels)[y]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)
    model = skl(est, ftype(name=input_name), zipmap=zipmap)
    th = tree_thresholds(model) if tree else ()
    rows = float_rows(X, rng_for(name), ROWS, thresholds=th, nan=tree if nan is None else nan, extremes=extremes)
    return Built(model, {input_name: rows}, "binary" if n_classes == 2 else "multiclass", "sklearn",
                 type(est).__name__ if not hasattr(est, "steps") else
                 " + ".join(type(s).__name__ for _, s in est.steps), notes)


def _regressor(name, est, *, seed, tree=False, n_targets=1, notes="", nan=None, dtype=np.float32):
    X, y = reg_data(seed, n_targets)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y if n_targets > 1 else y.ravel())
    if dtype == np.float64:
        from skl2onnx.common.data_types import DoubleTensorType
        types = [("input", DoubleTensorType([None, X.shape[1]]))]
    else:
        types = ftype()
    model = skl(est, types)
    th = tree_thresholds(model) if tree else ()
    rows = float_rows(X, rng_for(name), ROWS, thresholds=th, nan=tree if nan is None else nan, dtype=dtype)
    return Built(model, {"input": rows}, "regression", "sklearn",
                 type(est).__name__ if not hasattr(est, "steps") else
                 " + ".join(type(s).__name__ for _, s in est.steps), notes), est, X


def b_logreg(name, n_classes, zipmap=False, labels=None):
    from sklearn.linear_model import LogisticRegression
    return _classifier(name, LogisticRegression(max_iter=500), n_classes, zipmap=zipmap, seed=11 + n_classes,
                       labels=labels)


def b_linreg(name):
    from sklearn.linear_model import LinearRegression
    return _regressor(name, LinearRegression(), seed=21)[0]


def b_ridge(name):
    from sklearn.linear_model import Ridge
    return _regressor(name, Ridge(alpha=0.5), seed=22, n_targets=2, notes="two targets")[0]


def b_dtree_clf(name, zipmap=False, labels=None, int64=False):
    from sklearn.tree import DecisionTreeClassifier
    est = DecisionTreeClassifier(max_depth=8, min_samples_leaf=3, random_state=0)
    if not int64:
        return _classifier(name, est, 3, zipmap=zipmap, seed=31, tree=True, labels=labels)
    from skl2onnx.common.data_types import Int64TensorType
    X, y = clf_data(3, 31)
    Xi = np.round(X * 10).astype(np.int64)
    est.fit(Xi, y)
    model = skl(est, [("input", Int64TensorType([None, Xi.shape[1]]))], zipmap=zipmap)
    rows = int_rows(Xi, rng_for(name), ROWS, thresholds=tree_thresholds(model))
    return Built(model, {"input": rows}, "multiclass", "sklearn", "DecisionTreeClassifier",
                 "int64 input (features x10, rounded)")


def b_dtree_reg(name):
    from sklearn.tree import DecisionTreeRegressor
    return _regressor(name, DecisionTreeRegressor(max_depth=8, min_samples_leaf=3, random_state=0), seed=32,
                      tree=True)[0]


def b_rf_clf(name, zipmap=False):
    from sklearn.ensemble import RandomForestClassifier
    return _classifier(name, RandomForestClassifier(n_estimators=15, max_depth=6, random_state=0, n_jobs=1), 3,
                       zipmap=zipmap, seed=41, tree=True)


def _rf_reg():
    from sklearn.ensemble import RandomForestRegressor
    return RandomForestRegressor(n_estimators=15, max_depth=6, random_state=0, n_jobs=1)


def b_rf_reg(name):
    return _regressor(name, _rf_reg(), seed=42, tree=True)[0]


def b_gb_clf(name, n_classes, zipmap=False):
    from sklearn.ensemble import GradientBoostingClassifier
    return _classifier(name, GradientBoostingClassifier(n_estimators=20, max_depth=3, random_state=0), n_classes,
                       zipmap=zipmap, seed=51 + n_classes, tree=True)


def b_gb_reg(name):
    from sklearn.ensemble import GradientBoostingRegressor
    return _regressor(name, GradientBoostingRegressor(n_estimators=30, max_depth=3, random_state=0), seed=53,
                      tree=True)[0]


def b_hgb_clf(name):
    from sklearn.ensemble import HistGradientBoostingClassifier
    patch_skl2onnx_hgb()
    X, y = clf_data(2, 61)
    X[np.random.default_rng(61).random(X.shape) < 0.05] = np.nan  # trains missing-value directions
    est = HistGradientBoostingClassifier(max_iter=20, max_depth=4, random_state=0).fit(X, y)
    model = skl(est, ftype())
    rows = float_rows(np.nan_to_num(X), rng_for(name), ROWS, thresholds=tree_thresholds(model), nan=True)
    return Built(model, {"input": rows}, "binary", "sklearn", "HistGradientBoostingClassifier",
                 "trained with 5% NaN: nodes_missing_value_tracks_true is set on some nodes")


def b_hgb_reg(name):
    from sklearn.ensemble import HistGradientBoostingRegressor
    patch_skl2onnx_hgb()
    X, y = reg_data(62)
    X[np.random.default_rng(62).random(X.shape) < 0.05] = np.nan
    est = HistGradientBoostingRegressor(max_iter=30, max_depth=4, random_state=0).fit(X, y.ravel())
    model = skl(est, ftype())
    rows = float_rows(np.nan_to_num(X), rng_for(name), ROWS, thresholds=tree_thresholds(model), nan=True)
    return Built(model, {"input": rows}, "regression", "sklearn", "HistGradientBoostingRegressor",
                 "trained with 5% NaN: nodes_missing_value_tracks_true is set on some nodes")


def b_svc(name, kernel, n_classes, zipmap=False):
    from sklearn.svm import SVC
    return _classifier(name, SVC(kernel=kernel, probability=True, C=1.0, random_state=0), n_classes,
                       zipmap=zipmap, seed=71 + n_classes)


def b_svr(name):
    from sklearn.svm import SVR
    return _regressor(name, SVR(kernel="rbf", C=1.0, epsilon=0.05), seed=73)[0]


def b_scaler_clf(name, final: str, zipmap=False):
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    if final == "logreg":
        from sklearn.linear_model import LogisticRegression
        last = LogisticRegression(max_iter=500)
    else:
        from sklearn.ensemble import RandomForestClassifier
        last = RandomForestClassifier(n_estimators=10, max_depth=5, random_state=0, n_jobs=1)
    return _classifier(name, Pipeline([("scaler", StandardScaler()), ("clf", last)]), 3, zipmap=zipmap, seed=81)


def b_mlp(name, zipmap=False):
    from sklearn.neural_network import MLPClassifier
    # 1e30 inputs overflow float32 after two layers (inf - inf = NaN in softmax); keep extremes <= 1e15
    return _classifier(name, MLPClassifier(hidden_layer_sizes=(32, 16), max_iter=300, random_state=0), 3,
                       zipmap=zipmap, seed=91, extremes=tuple(e for e in EXTREMES if abs(e) <= 1e15),
                       notes="extremes limited to |x| <= 1e15 (1e30 overflows float32 in the hidden layers)")


def b_columns_onehot(name):
    """ColumnTransformer over a DataFrame: one graph input per column."""
    import pandas as pd
    from skl2onnx.common.data_types import FloatTensorType, Int64TensorType, StringTensorType
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    rng = np.random.default_rng(101)
    n = N_TRAIN
    colors = np.array(["red", "green", "blue", "yellow"])
    shapes = np.array(["circle", "square", "triangle"])
    sizes = np.array([1, 2, 5, 10, 20], dtype=np.int64)
    df = pd.DataFrame({
        "color": rng.choice(colors, n), "shape": rng.choice(shapes, n), "size": rng.choice(sizes, n),
        "a": rng.standard_normal(n).astype(np.float32), "b": rng.standard_normal(n).astype(np.float32),
        "c": (rng.standard_normal(n) * 10).astype(np.float32),
    })
    logit = ((df.color == "red") * 1.5 - (df["shape"] == "square") + df["size"] / 10 + df.a - 0.1 * df.c).to_numpy()
    y = (logit + rng.standard_normal(n) * 0.5 > 0.5).astype(np.int64)
    pipe = Pipeline([
        ("pre", ColumnTransformer([
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["color", "shape", "size"]),
            ("num", StandardScaler(), ["a", "b", "c"]),
        ])),
        ("clf", LogisticRegression(max_iter=500)),
    ]).fit(df, y)
    types = [("color", StringTensorType([None, 1])), ("shape", StringTensorType([None, 1])),
             ("size", Int64TensorType([None, 1])), ("a", FloatTensorType([None, 1])),
             ("b", FloatTensorType([None, 1])), ("c", FloatTensorType([None, 1]))]
    model = skl(pipe, types, zipmap=True)
    r = rng_for(name)
    ints = list(INT_EXTREMES) + list(r.choice(sizes, ROWS - len(INT_EXTREMES)))
    ints = np.asarray(ints, np.int64)
    ints[r.choice(np.arange(len(INT_EXTREMES), ROWS), 40, replace=False)] = 3  # unseen category
    inputs = {
        "color": string_column(list(colors), r, ROWS).reshape(-1, 1),
        "shape": string_column(list(shapes), r, ROWS).reshape(-1, 1),
        "size": ints.reshape(-1, 1),
    }
    for col in ("a", "b", "c"):
        inputs[col] = float_rows(df[[col]].to_numpy(np.float32), r, ROWS)
    return Built(model, inputs, "binary", "sklearn", "ColumnTransformer(OneHotEncoder, StandardScaler) + LogisticRegression",
                 "string, int64 and float inputs [N,1] each; unknown categories ignored")


def b_onehot_strings(name):
    from skl2onnx.common.data_types import StringTensorType
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder
    rng = np.random.default_rng(102)
    a = np.array(["north", "south", "east", "west"])
    b = np.array(["low", "mid", "high"])
    S = np.stack([rng.choice(a, N_TRAIN), rng.choice(b, N_TRAIN)], axis=1)
    y = ((S[:, 0] == "north").astype(int) + (S[:, 1] == "high") * 2 + rng.integers(0, 2, N_TRAIN)) % 3
    pipe = Pipeline([("ohe", OneHotEncoder(handle_unknown="ignore")), ("clf", LogisticRegression(max_iter=500))])
    pipe.fit(S, y.astype(np.int64))
    model = skl(pipe, [("input", StringTensorType([None, 2]))])
    r = rng_for(name)
    rows = np.stack([string_column(list(a), r, ROWS), string_column(list(b), r, ROWS)[::-1]], axis=1)
    return Built(model, {"input": np.ascontiguousarray(rows)}, "multiclass", "sklearn",
                 "OneHotEncoder + LogisticRegression", "one string tensor input [N,2] (Gather per column)")


def b_label_encoder(name):
    from skl2onnx.common.data_types import StringTensorType
    from sklearn.preprocessing import LabelEncoder
    vals = ["cat", "dog", "bird", "fish", "ünï", ""]
    le = LabelEncoder().fit(vals)
    from skl2onnx import convert_sklearn
    model = convert_sklearn(le, initial_types=[("input", StringTensorType([None]))], target_opset=SKL_OPSET)
    return Built(model, {"input": string_column(vals, rng_for(name), ROWS)}, "transform", "sklearn", "LabelEncoder",
                 "unknown strings map to default_int64 (-1)")


def b_imputer_minmax(name):
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import MinMaxScaler
    X, y = clf_data(3, 111)
    Xn = X.copy()
    Xn[np.random.default_rng(111).random(X.shape) < 0.05] = np.nan
    pipe = Pipeline([("imp", SimpleImputer(strategy="mean")), ("mm", MinMaxScaler()),
                     ("clf", LogisticRegression(max_iter=500))]).fit(Xn, y)
    model = skl(pipe, ftype())
    rows = float_rows(X, rng_for(name), ROWS, nan=True)
    return Built(model, {"input": rows}, "multiclass", "sklearn", "SimpleImputer + MinMaxScaler + LogisticRegression",
                 "NaN rows are imputed")


def b_normalizer(name, norm):
    from sklearn.preprocessing import Normalizer
    X, _ = clf_data(2, 121)
    est = Normalizer(norm=norm).fit(X)
    from skl2onnx import convert_sklearn
    model = convert_sklearn(est, initial_types=ftype(), target_opset=SKL_OPSET)
    # skip 1e30 rows: the L2 norm of [1e30]*F overflows float32 (inf -> 0/NaN outputs are ORT-specific)
    ex = tuple(e for e in EXTREMES if abs(e) <= 1e15)
    rows = float_rows(X, rng_for(name), ROWS, extremes=ex)
    return Built(model, {"input": rows}, "transform", "sklearn", f"Normalizer(norm={norm!r})",
                 "extremes limited to |x| <= 1e15")


def b_binarizer(name):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import Binarizer
    X, y = clf_data(2, 131)
    pipe = Pipeline([("bin", Binarizer(threshold=0.25)), ("clf", LogisticRegression(max_iter=500))]).fit(X, y)
    model = skl(pipe, ftype())
    th = [(j, 0.25, np.float32) for j in range(X.shape[1])]  # the binarizer threshold itself
    rows = float_rows(X, rng_for(name), ROWS, thresholds=th)
    return Built(model, {"input": rows}, "binary", "sklearn", "Binarizer + LogisticRegression",
                 "rows exactly at the 0.25 threshold")


# ---------------------------------------------------------------------------
# rewrites: TreeEnsembleRegressor -> ai.onnx.ml 3 (double tensors) and ai.onnx.ml 5 TreeEnsemble


def _attrs(node) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _set_opset(model: onnx.ModelProto, domain: str, version: int) -> None:
    for o in model.opset_import:
        if o.domain == domain:
            o.version = version
            return
    model.opset_import.append(helper.make_opsetid(domain, version))


def rewrite_regressor_v3_double(model: onnx.ModelProto, forest) -> onnx.ModelProto:
    """skl2onnx's RandomForestRegressor graph on float64 input, with its TreeEnsembleRegressor turned into
    ai.onnx.ml 3 with nodes_values_as_tensor / target_weights_as_tensor holding the exact double thresholds."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    node = next(n for n in m.graph.node if n.op_type == "TreeEnsembleRegressor")
    a = _attrs(node)
    thr = np.concatenate([e.tree_.threshold for e in forest.estimators_]).astype(np.float64)
    leaf = np.asarray([mo == b"LEAF" for mo in a["nodes_modes"]])
    assert len(thr) == len(leaf), "node order differs from sklearn's"
    thr[leaf] = 0.0
    # skl2onnx stores float32(t) rounded down (sklearn compares float32 x <= double t): within one ulp
    f32 = np.asarray(a["nodes_values"], np.float32)[~leaf]
    assert np.all(np.abs(thr[~leaf].astype(np.float32) - f32) <= np.spacing(np.abs(f32))), \
        "node order differs from sklearn's"
    weights = np.asarray(a["target_weights"], np.float64)
    keep = [at for at in node.attribute if at.name not in ("nodes_values", "target_weights", "base_values")]
    del node.attribute[:]
    node.attribute.extend(keep)
    node.attribute.append(helper.make_attribute("nodes_values_as_tensor", numpy_helper.from_array(thr)))
    node.attribute.append(helper.make_attribute("target_weights_as_tensor", numpy_helper.from_array(weights)))
    if a.get("base_values"):
        node.attribute.append(helper.make_attribute(
            "base_values_as_tensor", numpy_helper.from_array(np.asarray(a["base_values"], np.float64))))
    _set_opset(m, "ai.onnx.ml", 3)
    for o in m.graph.output:  # skl2onnx declares double, but TreeEnsembleRegressor's Y is always float
        if o.name == node.output[0]:
            o.type.tensor_type.elem_type = TensorProto.FLOAT
    onnx.checker.check_model(m)
    return m


_MODES = {"BRANCH_LEQ": 0, "BRANCH_LT": 1, "BRANCH_GTE": 2, "BRANCH_GT": 3, "BRANCH_EQ": 4, "BRANCH_NEQ": 5,
          "BRANCH_MEMBER": 6}
_AGG = {"AVERAGE": 0, "SUM": 1, "MIN": 2, "MAX": 3}
_POST = {"NONE": 0, "SOFTMAX": 1, "LOGISTIC": 2, "SOFTMAX_ZERO": 3, "PROBIT": 4}


def rewrite_regressor_v5(model: onnx.ModelProto, members: bool = False) -> onnx.ModelProto:
    """A single-target TreeEnsembleRegressor (ai.onnx.ml 1/3) rewritten as ai.onnx.ml 5 TreeEnsemble.

    v5 has no base_values: a nonzero base becomes an Add after the ensemble. With `members`, a chain
    of BRANCH_EQ nodes on one feature that share their true child (how onnxmltools writes a LightGBM
    categorical split) becomes one BRANCH_MEMBER node; the chain's other nodes stay, unreachable.
    """
    m = onnx.ModelProto()
    m.CopyFrom(model)
    idx = next(i for i, n in enumerate(m.graph.node) if n.op_type == "TreeEnsembleRegressor")
    old = m.graph.node[idx]
    a = _attrs(old)
    assert a.get("n_targets", 1) == 1
    tree_ids, node_ids = a["nodes_treeids"], a["nodes_nodeids"]
    modes = [x.decode() for x in a["nodes_modes"]]
    key = {(t, n): i for i, (t, n) in enumerate(zip(tree_ids, node_ids))}
    leaf_w = {}
    for t, n, w in zip(a["target_treeids"], a["target_nodeids"], a["target_weights"]):
        leaf_w[(t, n)] = leaf_w.get((t, n), 0.0) + w
    vals = a.get("nodes_values") or list(numpy_helper.to_array(a["nodes_values_as_tensor"]))
    missing = a.get("nodes_missing_value_tracks_true") or [0] * len(modes)
    # v5 node index = position among branch nodes; leaf index = position among leaves
    branch_ix, leaf_ix = {}, {}
    for i, (t, n) in enumerate(zip(tree_ids, node_ids)):
        (leaf_ix if modes[i] == "LEAF" else branch_ix)[(t, n)] = len(leaf_ix if modes[i] == "LEAF" else branch_ix)
    recs, roots = [], []  # one record per branch node: [feature, split, mode, members, true, false]
    for i, (t, n) in enumerate(zip(tree_ids, node_ids)):
        if modes[i] == "LEAF":
            continue
        if n == 0:
            roots.append(branch_ix[(t, n)])
        false_child, members_of = a["nodes_falsenodeids"][i], None
        if members and modes[i] == "BRANCH_EQ":
            chain, j = [vals[i]], key[(t, false_child)]
            while (modes[j] == "BRANCH_EQ" and a["nodes_featureids"][j] == a["nodes_featureids"][i]
                   and a["nodes_truenodeids"][j] == a["nodes_truenodeids"][i]):
                chain.append(vals[j])
                false_child = a["nodes_falsenodeids"][j]
                j = key[(t, false_child)]
            if len(chain) > 1:
                members_of = chain
            else:
                false_child = a["nodes_falsenodeids"][i]
        kids = []
        for child in (a["nodes_truenodeids"][i], false_child):
            j = key[(t, child)]
            kids.append((1, leaf_ix[(t, child)]) if modes[j] == "LEAF" else (0, branch_ix[(t, child)]))
        recs.append([a["nodes_featureids"][i], vals[i], "BRANCH_MEMBER" if members_of else modes[i], members_of,
                     int(missing[i]), kids[0], kids[1]])
    # keep the branch nodes reachable from the roots (a collapsed chain leaves its tail unreachable)
    reach, stack = set(), list(roots)
    while stack:
        b = stack.pop()
        if b in reach:
            continue
        reach.add(b)
        stack += [ix for is_leaf, ix in recs[b][5:7] if not is_leaf]
    new_ix = {b: k for k, b in enumerate(sorted(reach))}
    roots = [new_ix[b] for b in roots]
    feat, splits, vmodes, tids, tleaf, fids, fleaf, miss, member_values = [], [], [], [], [], [], [], [], []
    for b in sorted(reach):
        f, v, mode, mem, mi, (tl, ti), (fl, fi) = recs[b]
        feat.append(f)
        splits.append(v)
        vmodes.append(_MODES[mode])
        miss.append(mi)
        if mem:
            member_values += mem + [np.nan]
        tleaf.append(tl)
        tids.append(ti if tl else new_ix[ti])
        fleaf.append(fl)
        fids.append(fi if fl else new_ix[fi])
    assert len(roots) == len(set(tree_ids)), "a tree whose root is a leaf cannot be expressed here"
    leaves = sorted(leaf_ix, key=leaf_ix.get)
    in_type = next(i for i in m.graph.input if i.name == old.input[0]).type.tensor_type.elem_type
    sdt = np.float64 if in_type == TensorProto.DOUBLE else np.float32
    out = old.output[0]
    base = a.get("base_values") or []
    ens_out = out + "_ensemble" if any(base) else out
    new = helper.make_node(
        "TreeEnsemble", [old.input[0]], [ens_out], domain="ai.onnx.ml", name=old.name or "TreeEnsemble",
        aggregate_function=_AGG[a.get("aggregate_function", b"SUM").decode()],
        post_transform=_POST[a.get("post_transform", b"NONE").decode()],
        n_targets=1, tree_roots=roots,
        nodes_featureids=feat, nodes_splits=numpy_helper.from_array(np.asarray(splits, sdt)),
        nodes_modes=numpy_helper.from_array(np.asarray(vmodes, np.uint8)),
        nodes_truenodeids=tids, nodes_trueleafs=tleaf, nodes_falsenodeids=fids, nodes_falseleafs=fleaf,
        nodes_missing_value_tracks_true=miss,
        leaf_targetids=[0] * len(leaves),
        leaf_weights=numpy_helper.from_array(np.asarray([leaf_w.get(k, 0.0) for k in leaves], sdt)),
    )
    if member_values:
        new.attribute.append(helper.make_attribute(
            "membership_values", numpy_helper.from_array(np.asarray(member_values, sdt))))
    nodes = [new]
    if any(base):
        m.graph.initializer.append(numpy_helper.from_array(np.asarray(base, sdt), name=out + "_base"))
        nodes.append(helper.make_node("Add", [ens_out, out + "_base"], [out], name="add_base_values"))
    m.graph.node.pop(idx)
    for k, nd in enumerate(nodes):
        m.graph.node.insert(idx + k, nd)
    _set_opset(m, "ai.onnx.ml", 5)
    if not any(o.domain in ("", "ai.onnx") for o in m.opset_import):
        m.opset_import.append(helper.make_opsetid("", 17))
    for o in m.opset_import:
        if o.domain in ("", "ai.onnx") and o.version < 17:
            o.version = 17
    m.ir_version = max(m.ir_version, 8)
    if sdt == np.float64:  # TreeEnsemble's output has the input's type
        for o in m.graph.output:
            if o.name == out:
                o.type.tensor_type.elem_type = TensorProto.DOUBLE
    onnx.checker.check_model(m)
    return m


def b_rf_reg_double_v3(name):
    built, est, X = _regressor(name, _rf_reg(), seed=42, tree=False, dtype=np.float64)
    model = rewrite_regressor_v3_double(built.model, est)
    th = tree_thresholds(model)
    # the exact double thresholds, and their float32 roundings (which differ from them)
    th32 = [(f, float(np.float32(t)), np.float64) for f, t, _ in th[::4]]
    built.inputs["input"] = float_rows(X, rng_for(name), ROWS, thresholds=th + th32, nan=True, dtype=np.float64)
    return Built(model, built.inputs, "regression", "rewrite", "RandomForestRegressor",
                 "float64 input; TreeEnsembleRegressor ai.onnx.ml 3 with *_as_tensor double attributes")


def b_rf_reg_v5(name):
    built, _, X = _regressor(name, _rf_reg(), seed=42, tree=False)
    model = rewrite_regressor_v5(built.model)
    rows = float_rows(X, rng_for(name), ROWS, thresholds=tree_thresholds(model), nan=True)
    return Built(model, {"input": rows}, "regression", "rewrite", "RandomForestRegressor",
                 "ai.onnx.ml 5 TreeEnsemble (aggregate SUM over leaf weights skl2onnx pre-divides by n_trees, BRANCH_LEQ)")


# ---------------------------------------------------------------------------
# builders: XGBoost, LightGBM, CatBoost


def _mltools_type(n_features: int = N_FEATURES):
    from onnxmltools.convert.common.data_types import FloatTensorType
    return [("input", FloatTensorType([None, n_features]))]


def b_xgb(name, task):
    import xgboost as xgb
    from onnxmltools import convert_xgboost
    if task == "regression":
        X, y = reg_data(141)
        est = xgb.XGBRegressor(n_estimators=30, max_depth=4, learning_rate=0.2, n_jobs=1, random_state=0,
                               tree_method="hist")
        Xt = X.copy()
        Xt[np.random.default_rng(141).random(X.shape) < 0.05] = np.nan
        est.fit(Xt, y.ravel())
    else:
        n_classes = 2 if task == "binary" else 3
        X, y = clf_data(n_classes, 142 + n_classes)
        Xt = X.copy()
        Xt[np.random.default_rng(142).random(X.shape) < 0.05] = np.nan
        est = xgb.XGBClassifier(n_estimators=15, max_depth=4, learning_rate=0.3, n_jobs=1, random_state=0,
                                tree_method="hist").fit(Xt, y)
    model = convert_xgboost(est, initial_types=_mltools_type(), target_opset=MLTOOLS_OPSET)
    rows = float_rows(X, rng_for(name), ROWS, thresholds=tree_thresholds(model), nan=True)
    return Built(model, {"input": rows}, task, "xgboost", type(est).__name__,
                 "trained with 5% NaN (missing-value directions); BRANCH_LT splits"), est, X


def b_xgb_reg_v5(name):
    built, _, X = b_xgb(name, "regression")
    model = rewrite_regressor_v5(built.model)
    rows = float_rows(X, rng_for(name), ROWS, thresholds=tree_thresholds(model), nan=True)
    return Built(model, {"input": rows}, "regression", "rewrite", "XGBRegressor",
                 "ai.onnx.ml 5 TreeEnsemble with BRANCH_LT, missing-value tracking, base value as Add")


def b_lgbm(name, task, zipmap=False):
    import lightgbm as lgb
    from onnxmltools import convert_lightgbm
    common = dict(n_estimators=20, num_leaves=15, learning_rate=0.2, n_jobs=1, random_state=0, deterministic=True,
                  force_col_wise=True, verbose=-1)
    if task == "regression":
        X, y = reg_data(151)
        Xt = X.copy()
        Xt[np.random.default_rng(151).random(X.shape) < 0.05] = np.nan
        est = lgb.LGBMRegressor(**common).fit(Xt, y.ravel())
        model = convert_lightgbm(est, initial_types=_mltools_type(), target_opset=MLTOOLS_OPSET)
    else:
        n_classes = 2 if task == "binary" else 3
        X, y = clf_data(n_classes, 152 + n_classes)
        Xt = X.copy()
        Xt[np.random.default_rng(152).random(X.shape) < 0.05] = np.nan
        est = lgb.LGBMClassifier(**common).fit(Xt, y)
        model = convert_lightgbm(est, initial_types=_mltools_type(), target_opset=MLTOOLS_OPSET, zipmap=zipmap)
    rows = float_rows(X, rng_for(name), ROWS, thresholds=tree_thresholds(model), nan=True)
    return Built(model, {"input": rows}, task, "lightgbm", type(est).__name__,
                 "trained with 5% NaN; onnxmltools declares the label output as shape [1] (ORT warns)")


def b_lgbm_categorical(name, v5=False):
    """LightGBM with two categorical features: onnxmltools writes each categorical split as a chain
    of BRANCH_EQ nodes sharing one true child, so the trees are DAGs, not trees."""
    import lightgbm as lgb
    from onnxmltools import convert_lightgbm
    rng = np.random.default_rng(171)
    X = rng.standard_normal((N_TRAIN, N_FEATURES)).astype(np.float32)
    X[:, 0] = rng.integers(0, 12, N_TRAIN)
    X[:, 1] = rng.integers(0, 5, N_TRAIN)
    y = (np.isin(X[:, 0], [1, 4, 7, 9]) * 1.0 - (X[:, 1] == 2) * 0.7 + (X[:, 2] > 0.3) * 0.5 + X[:, 3] * 0.3
         + rng.standard_normal(N_TRAIN) * 0.1).astype(np.float32)
    est = lgb.LGBMRegressor(n_estimators=20, num_leaves=8, learning_rate=0.3, n_jobs=1, random_state=0,
                            deterministic=True, force_col_wise=True, verbose=-1, min_data_per_group=5,
                            cat_smooth=1.0).fit(X, y, categorical_feature=[0, 1])
    model = convert_lightgbm(est, initial_types=_mltools_type(), target_opset=MLTOOLS_OPSET)
    if v5:
        model = rewrite_regressor_v5(model, members=True)
    r = rng_for(name)
    rows = float_rows(X, r, ROWS, thresholds=tree_thresholds(model), nan=True)
    head = len(EXTREMES) * (N_FEATURES + 1) + 1  # keep the extreme rows as they are
    rows[head:, 0] = r.integers(-1, 14, ROWS - head)  # categories, some unseen (-1, 12, 13)
    rows[head:, 1] = r.integers(0, 6, ROWS - head)
    rows[head::17, 0] += 0.5  # between categories
    notes = ("categorical features 0 and 1: BRANCH_EQ chains sharing true children (DAG-shaped trees)"
             + ("; rewritten as ai.onnx.ml 5 TreeEnsemble with BRANCH_MEMBER + membership_values" if v5 else ""))
    return Built(model, {"input": rows}, "regression", "rewrite" if v5 else "lightgbm", "LGBMRegressor", notes)


def b_catboost(name, task):
    import catboost as cb
    common = dict(iterations=30, depth=4, learning_rate=0.3, random_seed=0, thread_count=1, verbose=0,
                  allow_writing_files=False)
    if task == "regression":
        X, y = reg_data(161)
        est = cb.CatBoostRegressor(**common).fit(X, y.ravel())
    else:
        n_classes = 2 if task == "binary" else 3
        X, y = clf_data(n_classes, 162 + n_classes)
        est = cb.CatBoostClassifier(**common).fit(X, y)
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "m.onnx"
        est.save_model(str(p), format="onnx")
        model = onnx.load(str(p))
    rows = float_rows(X, rng_for(name), ROWS, thresholds=tree_thresholds(model), nan=True)
    return Built(model, {"features": rows}, task, "catboost", type(est).__name__,
                 "CatBoost's own exporter (oblivious trees as TreeEnsemble*, ai.onnx.ml 2)")


# ---------------------------------------------------------------------------
# the zoo

def _first(fn):
    return lambda name, **kw: fn(name, **kw)[0]


register("logreg_binary", b_logreg, n_classes=2)
register("logreg_binary_zipmap", b_logreg, n_classes=2, zipmap=True)
register("logreg_multi", b_logreg, n_classes=4)
register("logreg_multi_zipmap", b_logreg, n_classes=4, zipmap=True)
register("logreg_strlabels", b_logreg, n_classes=3, labels=["zebra", "ant", "mole"])
register("logreg_strlabels_zipmap", b_logreg, n_classes=3, labels=["zebra", "ant", "mole"], zipmap=True)
register("linreg", b_linreg)
register("ridge_2targets", b_ridge)
register("dtree_clf", b_dtree_clf)
register("dtree_clf_zipmap", b_dtree_clf, zipmap=True)
register("dtree_clf_intlabels_zipmap", b_dtree_clf, zipmap=True, labels=[42, -7, 3])
register("dtree_clf_int64", b_dtree_clf, int64=True)
register("dtree_reg", b_dtree_reg)
register("rf_clf", b_rf_clf)
register("rf_clf_zipmap", b_rf_clf, zipmap=True)
register("rf_reg", b_rf_reg)
register("rf_reg_double_v3", b_rf_reg_double_v3)
register("rf_reg_v5", b_rf_reg_v5)
register("gb_clf_binary", b_gb_clf, n_classes=2)
register("gb_clf_binary_zipmap", b_gb_clf, n_classes=2, zipmap=True)
register("gb_clf_multi", b_gb_clf, n_classes=3)
register("gb_reg", b_gb_reg)
register("hgb_clf", b_hgb_clf)
register("hgb_reg", b_hgb_reg)
register("svc_linear", b_svc, kernel="linear", n_classes=2)
register("svc_linear_zipmap", b_svc, kernel="linear", n_classes=2, zipmap=True)
register("svc_rbf", b_svc, kernel="rbf", n_classes=3)
register("svc_rbf_zipmap", b_svc, kernel="rbf", n_classes=3, zipmap=True)
register("svr_rbf", b_svr)
register("scaler_logreg_zipmap", b_scaler_clf, final="logreg", zipmap=True)
register("scaler_rf_clf", b_scaler_clf, final="rf")
register("mlp_clf", b_mlp)
register("mlp_clf_zipmap", b_mlp, zipmap=True)
register("columns_onehot_logreg_zipmap", b_columns_onehot, requires=("pandas",))
register("onehot_strings_logreg", b_onehot_strings)
register("label_encoder", b_label_encoder)
register("imputer_minmax_logreg", b_imputer_minmax)
register("normalizer_l1", b_normalizer, norm="l1")
register("normalizer_l2", b_normalizer, norm="l2")
register("normalizer_max", b_normalizer, norm="max")
register("binarizer_logreg", b_binarizer)
register("xgb_clf", _first(b_xgb), task="multiclass", requires=("xgboost", "onnxmltools"))
register("xgb_clf_binary", _first(b_xgb), task="binary", requires=("xgboost", "onnxmltools"))
register("xgb_reg", _first(b_xgb), task="regression", requires=("xgboost", "onnxmltools"))
register("xgb_reg_v5", b_xgb_reg_v5, requires=("xgboost", "onnxmltools"))
register("lgbm_clf", b_lgbm, task="multiclass", requires=("lightgbm", "onnxmltools"))
register("lgbm_clf_zipmap", b_lgbm, task="multiclass", zipmap=True, requires=("lightgbm", "onnxmltools"))
register("lgbm_clf_binary", b_lgbm, task="binary", requires=("lightgbm", "onnxmltools"))
register("lgbm_reg", b_lgbm, task="regression", requires=("lightgbm", "onnxmltools"))
register("lgbm_reg_categorical", b_lgbm_categorical, requires=("lightgbm", "onnxmltools"))
register("lgbm_reg_categorical_v5", b_lgbm_categorical, v5=True, requires=("lightgbm", "onnxmltools"))
register("catboost_clf_zipmap", b_catboost, task="multiclass", requires=("catboost",))
register("catboost_clf_binary_zipmap", b_catboost, task="binary", requires=("catboost",))
register("catboost_reg", b_catboost, task="regression", requires=("catboost",))


# ---------------------------------------------------------------------------
# manifest


def ops_used(model: onnx.ModelProto) -> list[str]:
    """Sorted `domain:Op:opset` of every node (domain '' printed as ai.onnx)."""
    ver = {o.domain or "ai.onnx": o.version for o in model.opset_import}
    out = set()
    for n in model.graph.node:
        d = n.domain or "ai.onnx"
        out.add(f"{d}:{n.op_type}:{ver.get(d, '?')}")
    return sorted(out)


def ml_attributes(model: onnx.ModelProto) -> dict:
    """Notable ai.onnx.ml attributes per op (post_transform, modes, base values, tensors, kernels)."""
    notes: dict[str, dict] = {}
    for n in model.graph.node:
        if n.domain != "ai.onnx.ml":
            continue
        a = {at.name: at for at in n.attribute}
        d = notes.setdefault(n.op_type, {})
        for k in ("post_transform", "aggregate_function", "kernel_type", "norm", "multi_class"):
            if k in a:
                v = helper.get_attribute_value(a[k])
                d[k] = v.decode() if isinstance(v, bytes) else v
        if "nodes_modes" in a:
            if a["nodes_modes"].type == onnx.AttributeProto.TENSOR:
                inv = {v: k for k, v in _MODES.items()}
                d["modes"] = sorted({inv.get(int(x), str(x)) for x in numpy_helper.to_array(a["nodes_modes"].t)})
            else:
                d["modes"] = sorted({m.decode() for m in a["nodes_modes"].strings} - {"LEAF"})
        if "nodes_missing_value_tracks_true" in a:
            d["missing_tracks_true"] = int(sum(a["nodes_missing_value_tracks_true"].ints))
        for k in ("base_values", "base_values_as_tensor"):
            if k in a:
                d[k] = True
        d["tensor_attributes"] = sorted(k for k, at in a.items() if at.type == onnx.AttributeProto.TENSOR) or None
        if "nodes_featureids" in a:
            d["n_nodes"] = len(a["nodes_featureids"].ints)
        if "tree_roots" in a:
            d["n_trees"] = len(a["tree_roots"].ints)
        elif "nodes_treeids" in a:
            d["n_trees"] = len(set(a["nodes_treeids"].ints))
        for k in ("classlabels_strings", "classlabels_int64s", "keys_strings", "cats_strings", "cats_int64s"):
            if k in a:
                v = helper.get_attribute_value(a[k])
                d[k] = [x.decode() if isinstance(x, bytes) else x for x in v][:8]
        if d.get("tensor_attributes") is None:
            d.pop("tensor_attributes", None)
    return notes


def np_dtype_name(a: np.ndarray) -> str:
    return "string" if a.dtype.kind in "UO" else a.dtype.name


def run_ort(model_path: Path, inputs: dict[str, np.ndarray]) -> dict:
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.log_severity_level = 3  # onnxmltools' label shape [1] makes ORT warn on every run
    sess = ort.InferenceSession(str(model_path), so, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, inputs)))


def zipmap_to_matrix(value) -> np.ndarray:
    """ORT's ZipMap output (a list of {label: prob} dicts) as float32 [N, C] in the dicts' key order."""
    if len(value) == 0:
        return np.zeros((0, 0), np.float32)
    keys = list(value[0].keys())
    return np.asarray([[row[k] for k in keys] for row in value], dtype=np.float32)


def describe_outputs(model: onnx.ModelProto, ref: dict) -> list[dict]:
    outs = []
    for o in model.graph.output:
        v = ref[o.name]
        if isinstance(v, list):
            kind, mat = "zipmap", zipmap_to_matrix(v)
            outs.append({"name": o.name, "kind": kind, "dtype": "float32", "shape": list(mat.shape),
                         "keys": [k if isinstance(k, str) else int(k) for k in (v[0].keys() if v else [])]})
            continue
        a = np.asarray(v)
        if a.dtype.kind in "iuUOb":
            kind = "label" if a.dtype.kind in "iuUO" else "values"
        elif "prob" in o.name.lower():
            kind = "probabilities"
        else:
            kind = "scores" if any(n.op_type.endswith("Classifier") for n in model.graph.node) else "values"
        outs.append({"name": o.name, "kind": kind, "dtype": np_dtype_name(a), "shape": list(a.shape)})
    return outs


def _have(mod: str) -> bool:
    import importlib.util
    return importlib.util.find_spec(mod) is not None


def build_one(name: str, out_dir: Path) -> dict:
    e = ZOO[name]
    with warnings.catch_warnings():
        # scikit-learn 1.9 deprecates SVC(probability=True) (removal planned for 1.11); skl2onnx reads probA_
        warnings.simplefilter("ignore", FutureWarning)
        b = e.fn(name, **e.kwargs)
    model = b.model
    model.doc_string = f"Berth zoo model {name}: {b.estimator}"
    model.graph.name = name  # converters put a random UUID here
    opsets = sorted(model.opset_import, key=lambda o: o.domain)  # converters build them from a set
    del model.opset_import[:]
    model.opset_import.extend(opsets)
    keep = [p for p in model.metadata_props if p.key not in ("train_finish_time", "model_guid")]  # CatBoost's
    del model.metadata_props[:]
    model.metadata_props.extend(keep)
    path = out_dir / f"{name}.onnx"
    onnx.save_model(model, str(path))
    inputs = []
    for inp in model.graph.input:
        arr = b.inputs[inp.name]
        f = out_dir / f"{name}.input.{berthpy.safe_output_name(inp.name)}.npy"
        np.save(f, arr, allow_pickle=False)
        inputs.append({"name": inp.name, "file": f.name, "dtype": np_dtype_name(arr), "shape": list(arr.shape)})
    assert set(b.inputs) == {i.name for i in model.graph.input}, (name, sorted(b.inputs))
    ref = run_ort(path, b.inputs)
    outputs = describe_outputs(model, ref)
    nonfinite = 0
    for o in outputs:
        v = ref[o["name"]]
        v = zipmap_to_matrix(v) if o["kind"] == "zipmap" else np.asarray(v)
        if v.dtype.kind == "f":
            nonfinite += int((~np.isfinite(v)).sum())
    return {
        "name": name, "file": path.name, "task": b.task, "source": b.source, "estimator": b.estimator,
        "rows": int(len(next(iter(b.inputs.values())))), "inputs": inputs, "outputs": outputs,
        "ops": ops_used(model), "opsets": {o.domain or "ai.onnx": o.version for o in model.opset_import},
        "ml_attributes": ml_attributes(model), "ort_nonfinite_outputs": nonfinite, "notes": b.notes,
    }


def build_zoo(out_dir=DEFAULT_OUT, names: list[str] | None = None, verbose: bool = True) -> dict:
    """Builds the zoo into out_dir (created) and writes zoo_manifest.json; returns the manifest."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    chosen = names or list(ZOO)
    unknown = [n for n in chosen if n not in ZOO]
    if unknown:
        raise KeyError(f"unknown zoo models {unknown}; known: {', '.join(ZOO)}")
    models, skipped = [], {}
    t_all = time.perf_counter()
    for name in chosen:
        missing = [r for r in ZOO[name].requires if not _have(r)]
        if missing:
            skipped[name] = f"missing Python packages: {', '.join(missing)}"
            if verbose:
                print(f"skip {name}: {skipped[name]}", file=sys.stderr)
            continue
        t0 = time.perf_counter()
        entry = build_one(name, out_dir)
        models.append(entry)
        if verbose:
            print(f"{name:30s} {time.perf_counter() - t0:5.1f}s  {entry['task']:10s} "
                  + " ".join(op.replace("ai.onnx.ml:", "ml:").replace("ai.onnx:", "") for op in entry["ops"]),
                  file=sys.stderr)
    versions = {}
    for mod in ("numpy", "onnx", "onnxruntime", "sklearn", "skl2onnx", "onnxmltools", "xgboost", "lightgbm",
                "catboost"):
        try:
            versions[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001 - optional packages
            pass
    manifest = {"rows": ROWS, "versions": versions, "skipped": skipped, "models": models}
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=False) + "\n")
    if verbose:
        print(f"{len(models)} models in {out_dir} ({time.perf_counter() - t_all:.1f} s)", file=sys.stderr)
    return manifest


def main(argv=None) -> int:
    global ROWS
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(DEFAULT_OUT), help="output directory (default: %(default)s)")
    ap.add_argument("--only", help="comma-separated model names (default: all)")
    ap.add_argument("--rows", type=int, default=ROWS, help="test rows per model (default: %(default)s)")
    ap.add_argument("--list", action="store_true", help="list the model names and exit")
    args = ap.parse_args(argv)
    if args.list:
        print("\n".join(ZOO))
        return 0
    ROWS = args.rows
    names = [n.strip() for n in args.only.split(",") if n.strip()] if args.only else None
    build_zoo(Path(args.out), names)
    return 0


if __name__ == "__main__":
    sys.exit(main())
