"""Evidently's DataDriftPreset answers on small CSV pairs, committed as test fixtures.

Run in a venv with Evidently (it does not import with pandas 3):
    python3 -m venv /tmp/oracle-venv
    /tmp/oracle-venv/bin/pip install evidently==0.7.23 'pandas<2.3' scipy
    /tmp/oracle-venv/bin/python scripts/make_drift_fixtures.py

Writes tests/python/fixtures/drift/<case>/{reference,current}.csv and evidently.json:
    {"evidently": "0.7.23", "drifted_count": n, "drift_share": x,
     "columns": {NAME: {"method": Evidently's method name, "threshold": x, "value": p-value or distance}}}
tests/python/test_drift_evidently.py compares `berth drift --json` with these answers.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import evidently
import numpy as np
import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset

OUT = Path(__file__).resolve().parents[1] / "tests" / "python" / "fixtures" / "drift"


def frame(rng: np.random.Generator, n: int, shift: float) -> pd.DataFrame:
    """Every kind of column Evidently tells apart, `shift` moving each distribution."""
    x = rng.normal(shift, 1 + shift / 2, n)
    x[rng.random(n) < 0.03] = np.nan                     # missing values are left out
    return pd.DataFrame({
        "x_float": np.round(x, 4),                                                         # numerical → KS / Wasserstein
        "y_float": np.round(rng.gamma(2 + shift / 4, 1, n), 4),                            # numerical, small drift
        "few_float": rng.choice([0.5, 1.5, 2.5], n, p=[0.5 - shift / 5, 0.3, 0.2 + shift / 5]),  # 3 values → chi / JS
        "bin_float": rng.choice([0.0, 1.0], n, p=[0.7 - shift / 6, 0.3 + shift / 6]),             # 2 values → Z / JS
        "int_many": rng.integers(0, 60, n) + (rng.random(n) < shift / 2) * 10,                    # int > 10 values → numerical
        "int_few": rng.choice(np.arange(8), n, p=np.roll(np.full(8, 1 / 8), 0)) if shift == 0
        else rng.choice(np.arange(8), n, p=np.array([3, 1, 1, 1, 1, 1, 1, 1]) / 10),              # int ≤ 10 values → categorical
        "city": rng.choice(["ams", "ber", "cph", "dub"], n, p=[0.4, 0.3, 0.2 - shift / 10, 0.1 + shift / 10]),  # strings → chi / JS
        "flag": rng.choice(["no", "yes"], n, p=[0.8 - shift / 8, 0.2 + shift / 8]),               # two strings → Z / JS
    })


CASES = {
    # (reference rows, current rows, shift of the current data)
    "small_drift": (600, 450, 0.6),
    "small_same": (800, 700, 0.0),
    "large_drift": (2500, 1800, 1.0),
    "large_same": (3000, 2000, 0.0),
}

METHODS = {"K-S p_value": "ks", "chi-square p_value": "chisquare", "Z-test p_value": "z",
           "Wasserstein distance (normed)": "wasserstein", "Jensen-Shannon distance": "jensenshannon", "PSI": "psi"}


def evidently_answer(ref: pd.DataFrame, cur: pd.DataFrame) -> dict:
    d = Report([DataDriftPreset()]).run(current_data=cur, reference_data=ref).dict()
    columns, count, share = {}, None, None
    for m in d["metrics"]:
        name, cfg, value = m["metric_name"], m["config"], m["value"]
        if name.startswith("DriftedColumnsCount"):
            count, share = value["count"], value["share"]
        elif name.startswith("ValueDrift"):
            method = cfg["method"]
            columns[cfg["column"]] = {"method": METHODS.get(method, method), "threshold": cfg["threshold"],
                                      "value": float(value)}
    return {"evidently": evidently.__version__, "drifted_count": int(count), "drift_share": float(share), "columns": columns}


def main() -> None:
    if OUT.exists():
        shutil.rmtree(OUT)
    for i, (case, (n_ref, n_cur, shift)) in enumerate(CASES.items()):
        rng = np.random.default_rng(100 + i)
        ref, cur = frame(rng, n_ref, 0.0), frame(rng, n_cur, shift)
        folder = OUT / case
        folder.mkdir(parents=True)
        ref.to_csv(folder / "reference.csv", index=False)
        cur.to_csv(folder / "current.csv", index=False)
        # Evidently sees what berth reads: the CSV files, parsed by pandas.
        answer = evidently_answer(pd.read_csv(folder / "reference.csv"), pd.read_csv(folder / "current.csv"))
        (folder / "evidently.json").write_text(json.dumps(answer, indent=2, sort_keys=True) + "\n")
        print(case, {k: (v["method"], round(v["value"], 4)) for k, v in answer["columns"].items()}, answer["drift_share"])


if __name__ == "__main__":
    main()
