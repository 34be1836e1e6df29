"""`berth monitor estimate` against NannyML's CBPE (0.13.1), from committed answers.

Run:   .venv/bin/python -m pytest tests/python/test_cbpe_nannyml.py -q
Fixtures: tests/python/fixtures/cbpe/<case>/{model.onnx, reference.csv, analysis.csv, nannyml.json},
made by scripts/make_cbpe_fixtures.py in a venv with NannyML: two binary classifiers and a
three-class one (one-vs-rest calibration, renormalized, as NannyML's multiclass CBPE). The analysis sets are covariate-shifted
so realized accuracy drops; Berth's estimated accuracy and ROC-AUC must be within 0.01 of NannyML's,
its calibration decision equal where calibration clearly helps, and its realized metrics equal scikit-learn's (1e-9).
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "cbpe"
CASES = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir())


def estimate(berth_bin: Path, folder: Path, analysis: Path) -> dict:
    out = subprocess.run([str(berth_bin), "monitor", "estimate", str(folder / "model.onnx"), "--reference",
                          str(folder / "reference.csv"), "--analysis", str(analysis), "--label", "y", "--json"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_fixtures_cover_both_calibration_decisions():
    decisions = {json.loads((FIXTURES / c / "nannyml.json").read_text())["needs_calibration"] for c in CASES}
    assert decisions == {True, False}


@pytest.mark.parametrize("case", CASES)
def test_estimate_equals_nannyml(berth_bin, case):
    folder = FIXTURES / case
    want = json.loads((folder / "nannyml.json").read_text())
    got = estimate(berth_bin, folder, folder / "analysis.csv")
    m = got["metrics"]
    # Where calibration clearly helps (under-confident scores) Berth must calibrate as NannyML does.
    # Where NannyML declines, the ECE change is marginal and Berth's own seeded splits (not
    # scikit-learn's StratifiedShuffleSplit(random_state=42)) may tip it the other way; the
    # estimates below must agree either way.
    if want["needs_calibration"]:
        assert got["calibrated"]
    # The shift is real: accuracy on the analysis set is at least 4 points below the reference's.
    assert want["realized_sklearn"]["accuracy"] < want["reference_accuracy"] - 0.04
    # Binary fixtures carry NannyML's binary F1 (not Berth's macro F1); the multiclass one its macro F1.
    for name in ("accuracy", "roc_auc", "f1_macro"):
        if name in want["estimated"]:
            assert m[name]["estimated"] == pytest.approx(want["estimated"][name], abs=0.01), name
    for name in ("accuracy", "f1_macro", "roc_auc"):
        assert m[name]["realized"] == pytest.approx(want["realized_sklearn"][name], abs=1e-6), name


def test_without_labels_realized_is_null(berth_bin, tmp_path):
    folder = FIXTURES / CASES[0]
    lines = (folder / "analysis.csv").read_text().splitlines()
    unlabelled = tmp_path / "analysis.csv"
    unlabelled.write_text("\n".join(",".join(l.split(",")[:-1]) for l in lines) + "\n")
    got = estimate(berth_bin, folder, unlabelled)
    labelled = estimate(berth_bin, folder, folder / "analysis.csv")
    for name in ("accuracy", "f1_macro", "roc_auc"):
        assert got["metrics"][name]["realized"] is None
        assert got["metrics"][name]["estimated"] == labelled["metrics"][name]["estimated"]


def test_bad_input_exits_2(berth_bin, tmp_path):
    folder = FIXTURES / CASES[0]
    r = subprocess.run([str(berth_bin), "monitor", "estimate", str(folder / "model.onnx"), "--reference",
                        str(folder / "reference.csv"), "--analysis", str(tmp_path / "nope.csv"), "--label", "y"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "nope.csv" in r.stderr
    r = subprocess.run([str(berth_bin), "monitor", "estimate", str(folder / "model.onnx"), "--reference",
                        str(folder / "reference.csv"), "--analysis", str(folder / "analysis.csv"), "--label", "zz"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "'zz'" in r.stderr
