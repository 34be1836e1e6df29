"""`berth drift` decisions against Evidently's DataDriftPreset (0.7.23), from committed answers.

Run:   .venv/bin/python -m pytest tests/python/test_drift_evidently.py -q
Fixtures: tests/python/fixtures/drift/<case>/{reference,current}.csv + evidently.json, made by
scripts/make_drift_fixtures.py in a venv with Evidently (slow to install, so not in CI). Per column
the method Berth picks and its drift flag must equal Evidently's, its p-value (tests) or distance
within 1e-6; the data set's drifted count, share and verdict (share ≥ 0.5) must be equal.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "drift"
CASES = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir())
TOL = 1e-6


def evidently_drifted(method: str, value: float, threshold: float) -> bool:
    # Evidently's own rules: KS drifts at p ≤ threshold, the other tests at p < threshold,
    # distances at ≥ threshold.
    if method == "ks":
        return value <= threshold
    if method in ("chisquare", "z"):
        return value < threshold
    return value >= threshold


def test_fixtures_exist():
    assert len(CASES) >= 4, f"expected the drift fixtures under {FIXTURES}"


@pytest.mark.parametrize("case", CASES)
def test_drift_equals_evidently(berth_bin, case):
    folder = FIXTURES / case
    want = json.loads((folder / "evidently.json").read_text())
    out = subprocess.run([str(berth_bin), "drift", "--reference", str(folder / "reference.csv"),
                          "--current", str(folder / "current.csv"), "--json"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert sorted(got["features"]) == sorted(want["columns"])
    for name, w in want["columns"].items():
        g = got["features"][name]
        assert g["method"] == w["method"], f"{case}/{name}: berth chose {g['method']}, Evidently {w['method']}"
        assert g["threshold"] == pytest.approx(w["threshold"])
        score = g["p_value"] if g["p_value"] is not None else g["statistic"]
        assert score == pytest.approx(w["value"], abs=TOL), f"{case}/{name}: berth {score}, Evidently {w['value']}"
        assert g["drifted"] == evidently_drifted(w["method"], w["value"], w["threshold"]), f"{case}/{name}: drift flag"
    assert got["drifted_features"] == want["drifted_count"]
    assert got["drift_share"] == pytest.approx(want["drift_share"], abs=1e-12)
    assert got["dataset_drift"] == (want["drift_share"] >= 0.5)
