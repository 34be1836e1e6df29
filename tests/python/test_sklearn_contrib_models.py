"""skl2onnx exports that need com.microsoft contrib ops or the text ops, run by `berth run` and
ONNX Runtime: nearest neighbours and a Gaussian process (CDist, or Scan without it) and a
TF-IDF text classifier (StringNormalizer, Tokenizer, TfIdfVectorizer). Tolerances as in
test_contrib_and_new_ops.py (|berth - ort| <= 1e-5 * |ort| + 1e-5; labels exactly).
Run: .venv/bin/python -m pytest tests/python/test_sklearn_contrib_models.py -q
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from skl2onnx import to_onnx
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.pipeline import make_pipeline

from test_contrib_and_new_ops import _check

rng = np.random.default_rng(7)


def _save(model: onnx.ModelProto, path: Path) -> Path:
    onnx.save_model(model, str(path))
    return path


@pytest.mark.parametrize("optim", [None, "cdist"])
@pytest.mark.parametrize("est", ["classifier", "regressor"])
def test_nearest_neighbours(berth_bin, tmp_path, optim, est):
    x = rng.standard_normal((60, 5)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64) if est == "classifier" else x.sum(1)
    model = (KNeighborsClassifier(n_neighbors=3) if est == "classifier" else KNeighborsRegressor(n_neighbors=4)).fit(x, y)
    options = {id(model): {"optim": optim} if optim else {}}
    if est == "classifier":
        options[id(model)]["zipmap"] = False
    onx = to_onnx(model, x[:1], options=options, target_opset={"": 17, "ai.onnx.ml": 3})
    if optim == "cdist":
        assert any(n.op_type == "CDist" for n in onx.graph.node), "skl2onnx did not emit CDist"
    m = _save(onx, tmp_path / "knn.onnx")
    _check(berth_bin, m, {onx.graph.input[0].name: rng.standard_normal((7, 5)).astype(np.float32)}, tmp_path)


@pytest.mark.parametrize("optim", [None, "cdist"])
def test_gaussian_process(berth_bin, tmp_path, optim):
    x = rng.standard_normal((30, 3))
    gp = GaussianProcessRegressor(kernel=RBF(length_scale=1.5), alpha=1e-3).fit(x, np.sin(x).sum(1))
    options = {id(gp): {"optim": optim}} if optim else None
    onx = to_onnx(gp, x[:1].astype(np.float64), options=options, target_opset=17)
    m = _save(onx, tmp_path / "gp.onnx")
    _check(berth_bin, m, {onx.graph.input[0].name: rng.standard_normal((6, 3))}, tmp_path)


def test_tfidf_text_classifier(berth_bin, tmp_path):
    docs = ["the cat sat on the mat", "dogs and cats, living together!", "a dog barks; the cat sleeps",
            "stock markets fell today", "markets rally as stocks rise", "the bank raised rates"] * 3
    labels = np.array([0, 0, 0, 1, 1, 1] * 3)
    pipe = make_pipeline(TfidfVectorizer(ngram_range=(1, 2)), LogisticRegression()).fit(docs, labels)
    onx = to_onnx(pipe, np.array(docs[:1]).reshape(-1, 1), options={id(pipe.steps[-1][1]): {"zipmap": False}}, target_opset=17)
    # Without a locale attribute ORT's StringNormalizer builds en_US.UTF-8 with the C++ library
    # and fails on machines that lack it; C.UTF-8 always exists and lower-cases this ASCII text
    # the same way (Berth ignores the locale).
    for n in onx.graph.node:
        if n.op_type == "StringNormalizer":
            n.attribute.append(onnx.helper.make_attribute("locale", "C.UTF-8"))
    ops = {n.op_type for n in onx.graph.node}
    assert {"StringNormalizer", "TfIdfVectorizer"} <= ops, ops
    m = _save(onx, tmp_path / "tfidf.onnx")
    queries = np.array(["the cat and the dog", "markets and rates", "nothing known here", "Cat SAT, dogs bark!"], dtype=str).reshape(-1, 1)
    _check(berth_bin, m, {onx.graph.input[0].name: queries}, tmp_path)
