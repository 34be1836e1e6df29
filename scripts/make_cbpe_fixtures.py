"""NannyML's CBPE estimates for two small binary classifiers, committed as test fixtures.

Run in a venv with NannyML (see scripts/make_drift_fixtures.py for the Evidently side):
    python3 -m venv /tmp/oracle-venv
    /tmp/oracle-venv/bin/pip install nannyml==0.13.1 'pandas<2.3' scikit-learn skl2onnx onnx
    /tmp/oracle-venv/bin/python scripts/make_cbpe_fixtures.py

With case names as arguments only those are (re)made, e.g. `... make_cbpe_fixtures.py multiclass`.

For each case: a LogisticRegression trained on its own rows, exported with skl2onnx (no ZipMap),
a labelled reference set drawn like the training data (not the training rows: CBPE's calibration
needs held-out scores), and an analysis set with covariate shift (x0 pulled towards the decision
boundary), so realized accuracy drops while P(y | x) is unchanged. Writes
tests/python/fixtures/cbpe/<case>/{model.onnx, reference.csv, analysis.csv, nannyml.json}.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import nannyml as nml
import numpy as np
import pandas as pd
from skl2onnx import to_onnx
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

OUT = Path(__file__).resolve().parents[1] / "tests" / "python" / "fixtures" / "cbpe"
FEATURES = ["x0", "x1", "x2", "x3"]
COEF = np.array([2.0, -1.0, 0.5, 0.0])


def draw(rng: np.random.Generator, n: int, x0_scale: float) -> pd.DataFrame:
    x = rng.normal(0, 1, (n, 4))
    x[:, 0] *= x0_scale
    y = (rng.random(n) < 1 / (1 + np.exp(-(x @ COEF + 0.3)))).astype(int)
    df = pd.DataFrame(np.round(x, 5), columns=FEATURES)
    df["y"] = y
    return df


CASES = {
    # C: LogisticRegression's inverse regularisation. A tiny C makes the scores under-confident,
    # which isotonic calibration repairs (NannyML then calibrates); C = 1 is already calibrated.
    "logreg": 1.0,
    "logreg_underconfident": 0.002,
}


# Three classes, softmax-linear in x; the analysis set shrinks x0 and x1 towards 0, where the
# classes overlap, so realized accuracy drops while P(y | x) is unchanged.
MULTI_COEF = np.array([[2.0, -1.0, 0.5, 0.0], [-1.5, 1.5, 0.0, 0.5], [0.0, 0.0, -1.0, 1.0]])


def draw_multiclass(rng: np.random.Generator, n: int, shrink: float) -> pd.DataFrame:
    x = rng.normal(0, 1, (n, 4))
    x[:, :2] *= shrink
    logits = x @ MULTI_COEF.T
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    y = np.array([rng.choice(3, p=row) for row in p])
    df = pd.DataFrame(np.round(x, 5), columns=FEATURES)
    df["y"] = y
    return df


def make_multiclass() -> None:
    rng = np.random.default_rng(21)
    train, ref, ana = draw_multiclass(rng, 3000, 1.0), draw_multiclass(rng, 1500, 1.0), draw_multiclass(rng, 1500, 0.3)
    model = LogisticRegression(max_iter=1000).fit(train[FEATURES].to_numpy(np.float32), train["y"])
    onx = to_onnx(model, train[FEATURES].to_numpy(np.float32)[:1], options={id(model): {"zipmap": False}},
                  target_opset={"": 17, "ai.onnx.ml": 3})
    folder = OUT / "multiclass"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / "model.onnx").write_bytes(onx.SerializeToString())
    ref.to_csv(folder / "reference.csv", index=False)
    ana.to_csv(folder / "analysis.csv", index=False)
    columns = {c: f"p{c}" for c in model.classes_}

    def scored(df: pd.DataFrame) -> pd.DataFrame:
        x = df[FEATURES].to_numpy(np.float32)
        proba = model.predict_proba(x)
        return df.assign(pred=model.predict(x), **{columns[c]: proba[:, j] for j, c in enumerate(model.classes_)})

    r, a = scored(ref), scored(ana)
    est = nml.CBPE(y_pred_proba=columns, y_pred="pred", y_true="y", problem_type="classification_multiclass",
                   metrics=["accuracy", "roc_auc", "f1"], chunk_number=1).fit(r)
    res = est.estimate(a).to_df()
    res = res[res[("chunk", "period")] == "analysis"]
    proba = a[[columns[c] for c in model.classes_]].to_numpy()
    answer = {
        "nannyml": nml.__version__,
        "needs_calibration": any(type(c).__name__ != "NoopCalibrator" for c in est._calibrators.values()),
        "estimated": {"accuracy": float(res[("accuracy", "value")].iloc[0]),
                      "roc_auc": float(res[("roc_auc", "value")].iloc[0]),
                      "f1_macro": float(res[("f1", "value")].iloc[0])},
        "realized_sklearn": {"accuracy": accuracy_score(a["y"], a["pred"]),
                             "f1_macro": f1_score(a["y"], a["pred"], average="macro"),
                             "roc_auc": roc_auc_score(a["y"], proba, multi_class="ovr", average="macro")},
        "reference_accuracy": accuracy_score(r["y"], r["pred"]),
    }
    (folder / "nannyml.json").write_text(json.dumps(answer, indent=2, sort_keys=True) + "\n")
    print("multiclass", json.dumps(answer))


def main() -> None:
    import sys
    only = set(sys.argv[1:])
    if "multiclass" in only or not only:
        make_multiclass()
    if only and not only & set(CASES):
        return
    for i, (case, c) in enumerate(CASES.items()):
        if only and case not in only:
            continue
        if (OUT / case).exists():
            shutil.rmtree(OUT / case)
        rng = np.random.default_rng(7 + i)
        train, ref, ana = draw(rng, 3000, 1.0), draw(rng, 1500, 1.0), draw(rng, 1500, 0.35)
        model = LogisticRegression(C=c).fit(train[FEATURES].to_numpy(np.float32), train["y"])
        onx = to_onnx(model, train[FEATURES].to_numpy(np.float32)[:1], options={id(model): {"zipmap": False}},
                      target_opset={"": 17, "ai.onnx.ml": 3})
        folder = OUT / case
        folder.mkdir(parents=True)
        (folder / "model.onnx").write_bytes(onx.SerializeToString())
        ref.to_csv(folder / "reference.csv", index=False)
        ana.to_csv(folder / "analysis.csv", index=False)

        def scored(df: pd.DataFrame) -> pd.DataFrame:
            x = df[FEATURES].to_numpy(np.float32)   # what the ONNX model is fed
            return df.assign(p=model.predict_proba(x)[:, 1], pred=model.predict(x))

        r, a = scored(ref), scored(ana)
        est = nml.CBPE(y_pred_proba="p", y_pred="pred", y_true="y", problem_type="classification_binary",
                       metrics=["accuracy", "roc_auc", "f1"], chunk_number=1).fit(r)
        res = est.estimate(a).to_df()
        res = res[res[("chunk", "period")] == "analysis"]
        answer = {
            "nannyml": nml.__version__,
            "needs_calibration": bool(est.needs_calibration),
            "estimated": {"accuracy": float(res[("accuracy", "value")].iloc[0]),
                          "roc_auc": float(res[("roc_auc", "value")].iloc[0]),
                          "f1_binary": float(res[("f1", "value")].iloc[0])},
            "realized_sklearn": {"accuracy": accuracy_score(a["y"], a["pred"]),
                                 "f1_macro": f1_score(a["y"], a["pred"], average="macro"),
                                 "roc_auc": roc_auc_score(a["y"], a["p"])},
            "reference_accuracy": accuracy_score(r["y"], r["pred"]),
        }
        (folder / "nannyml.json").write_text(json.dumps(answer, indent=2, sort_keys=True) + "\n")
        print(case, json.dumps(answer))


if __name__ == "__main__":
    main()
