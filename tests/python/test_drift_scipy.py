"""`berth drift` statistics against SciPy on generated data: within 1e-9.

Run:   .venv/bin/python -m pytest tests/python/test_drift_scipy.py -q
(berth binary from $BERTH_BIN, else .build/release/berth, else .build/debug/berth; missing → FAIL)

Each case writes a reference and a current CSV, forces the method with --method, and compares
`berth drift --json` with the SciPy call Evidently makes for that method:
ks_2samp (exact below 10,000 rows, p-value and D), wasserstein_distance / np.std(reference),
chisquare with the reference's frequencies scaled to the current size as expected counts, and
jensenshannon of the per-category shares (and of Sturges-binned shares for many-valued numbers).
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial import distance

TOL = 1e-9


def drift(berth_bin: Path, tmp: Path, ref: pd.DataFrame, cur: pd.DataFrame, *args: str) -> dict:
    rp, cp = tmp / "ref.csv", tmp / "cur.csv"
    ref.to_csv(rp, index=False)
    cur.to_csv(cp, index=False)
    out = subprocess.run([str(berth_bin), "drift", "--reference", str(rp), "--current", str(cp), "--json", *args],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def close(got, want, what):
    assert got == pytest.approx(want, abs=TOL, rel=TOL), f"{what}: berth {got!r}, scipy {want!r}"


# (n_ref, n_cur, shift): equal sizes take SciPy's square path, unequal ones its lattice-path
# recursion; ties (rounded values) exercise the ECDF's right-continuity.
KS_CASES = [(200, 200, 0.0), (300, 450, 0.2), (1000, 730, 0.05), (97, 1013, 0.4), (1500, 2500, 0.1)]


@pytest.mark.parametrize("n_ref,n_cur,shift", KS_CASES)
def test_ks_and_wasserstein_equal_scipy(berth_bin, tmp_path, n_ref, n_cur, shift):
    rng = np.random.default_rng(n_ref * 7 + n_cur)
    ref = pd.DataFrame({"x": rng.normal(0, 1, n_ref), "t": np.round(rng.normal(0, 1, n_ref), 1)})
    cur = pd.DataFrame({"x": rng.normal(shift, 1.1, n_cur), "t": np.round(rng.normal(shift, 1, n_cur), 1)})
    d = drift(berth_bin, tmp_path, ref, cur, "--method", "x=ks", "--method", "t=ks")
    for col in ("x", "t"):
        r = stats.ks_2samp(ref[col], cur[col])
        close(d["features"][col]["statistic"], r.statistic, f"KS D of {col}")
        close(d["features"][col]["p_value"], r.pvalue, f"KS p of {col}")
        assert d["features"][col]["drifted"] == (r.pvalue < 0.05)
    d = drift(berth_bin, tmp_path, ref, cur, "--method", "x=wasserstein", "--method", "t=wasserstein")
    for col in ("x", "t"):
        want = stats.wasserstein_distance(ref[col], cur[col]) / max(np.std(ref[col]), 0.001)
        close(d["features"][col]["statistic"], want, f"normed Wasserstein of {col}")
        assert d["features"][col]["p_value"] is None
        assert d["features"][col]["drifted"] == (want >= 0.1)


@pytest.mark.parametrize("n_ref,n_cur,k", [(400, 400, 4), (800, 300, 7), (2000, 1500, 3)])
def test_chisquare_and_jensenshannon_equal_scipy(berth_bin, tmp_path, n_ref, n_cur, k):
    rng = np.random.default_rng(k)
    cats = [f"c{i}" for i in range(k)]
    p_ref = rng.dirichlet(np.ones(k) * 5)
    p_cur = 0.8 * p_ref + 0.2 * rng.dirichlet(np.ones(k))
    ref = pd.DataFrame({"s": rng.choice(cats, n_ref, p=p_ref), "n": rng.choice(np.arange(k), n_ref, p=p_ref)})
    cur = pd.DataFrame({"s": rng.choice(cats, n_cur, p=p_cur), "n": rng.choice(np.arange(k), n_cur, p=p_cur)})
    d = drift(berth_bin, tmp_path, ref, cur, "--method", "s=chisquare", "--method", "n=jensenshannon")
    keys = sorted(set(ref["s"]) | set(cur["s"]))
    rc, cc = ref["s"].value_counts(), cur["s"].value_counts()
    f_exp = [rc.get(c, 0) * n_cur / n_ref for c in keys]
    f_obs = [cc.get(c, 0) for c in keys]
    r = stats.chisquare(f_obs, f_exp)
    close(d["features"]["s"]["statistic"], r.statistic, "chi-squared statistic")
    close(d["features"]["s"]["p_value"], r.pvalue, "chi-squared p")
    keys = sorted(set(ref["n"]) | set(cur["n"]))
    rc, cc = ref["n"].value_counts(), cur["n"].value_counts()
    want = distance.jensenshannon([rc.get(c, 0) / n_ref for c in keys], [cc.get(c, 0) / n_cur for c in keys])
    close(d["features"]["n"]["statistic"], want, "Jensen-Shannon distance (categories)")


def test_binned_jensenshannon_equals_numpy_scipy(berth_bin, tmp_path):
    rng = np.random.default_rng(5)
    ref = pd.DataFrame({"x": rng.gamma(2, 1, 1200)})
    cur = pd.DataFrame({"x": rng.gamma(2.4, 1, 900)})
    d = drift(berth_bin, tmp_path, ref, cur, "--method", "x=jensenshannon")
    edges = np.histogram_bin_edges(np.concatenate([ref["x"], cur["x"]]), bins="sturges")
    want = distance.jensenshannon(np.histogram(ref["x"], edges)[0] / len(ref), np.histogram(cur["x"], edges)[0] / len(cur))
    close(d["features"]["x"]["statistic"], want, "Jensen-Shannon distance (Sturges bins)")


def test_z_test_equals_formula(berth_bin, tmp_path):
    rng = np.random.default_rng(11)
    ref = pd.DataFrame({"b": rng.choice(["no", "yes"], 600, p=[0.7, 0.3])})
    cur = pd.DataFrame({"b": rng.choice(["no", "yes"], 500, p=[0.62, 0.38])})
    d = drift(berth_bin, tmp_path, ref, cur)
    f = d["features"]["b"]
    assert f["method"] == "z"
    p1, p2 = (ref["b"] != "no").mean(), (cur["b"] != "no").mean()
    pooled = (p1 * 600 + p2 * 500) / 1100
    z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1 / 600 + 1 / 500))
    close(f["statistic"], z, "z")
    close(f["p_value"], 2 * (1 - stats.norm.cdf(abs(z))), "Z-test p")
