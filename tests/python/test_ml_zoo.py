"""Cross-check `berth run` against ONNX Runtime on the classic-ML model zoo (scripts/make_zoo.py).

Run:   .venv/bin/python -m pytest tests/python/test_ml_zoo.py -q
The berth binary is taken from $BERTH_BIN, else <repo>/.build/release/berth, else
<repo>/.build/debug/berth. If none exists the tests FAIL (they never skip). A zoo model whose
Python package (xgboost, lightgbm, catboost, onnxmltools, pandas) is missing also FAILS: they are
all in scripts/requirements.txt.

The zoo is built into a temporary directory (~15 s), or taken from $BERTH_ZOO_DIR if that holds a
zoo_manifest.json (e.g. `python scripts/make_zoo.py` writes examples/generated/zoo/).

For every model, on its ~2,000 test rows (with extreme values, tree thresholds, NaNs, unknown
strings; see make_zoo.py), every output must have ORT's dtype and shape, and:
  * labels (int64 or string): equal to ORT's exactly, row for row;
  * probabilities (and ZipMap outputs): within ATOL = 1e-5 absolute;
  * other float outputs (regression values, transforms): |berth - ort| <= 1e-5 * max(1, |ort|),
    i.e. 1e-5 absolute up to magnitude 1 and 1e-5 relative above (regression targets are scaled
    to unit variance, but the 1e30 rows of linear models give outputs near 1e30);
  * NaN / inf in exactly the same places.
ZipMap convention: ORT returns a ZipMap output as a list of {label: probability} dicts; Berth
returns a float32 tensor [N, C] whose columns follow the ZipMap's classlabels. ORT's dicts keep
that order, so they are compared as a matrix in dict key order.

Models Berth is known not to handle yet are listed in KNOWN_GAPS (strict xfail: they still run,
and the test fails as soon as Berth handles them, so the entry must then be deleted).
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import berthpy  # noqa: E402

zoo = berthpy.load_script("make_zoo")

ATOL = 1e-5        # probabilities: absolute
RTOL_VALUES = 1e-5  # other floats: absolute below magnitude 1, relative above
# Looser bounds, each with its reason (none today: Berth's SVM kernels use ORT's fused
# multiply-add order, so even the ill-conditioned linear-kernel SVCs match to the bit).
PROB_ATOL_OVERRIDES: dict[str, float] = {}
RUN_TIMEOUT_S = 300

# Known Berth gaps, as strict xfails: the test still runs, and FAILS once Berth handles the model
# (then delete the entry). Each entry says what ORT accepts that Berth does not.
KNOWN_GAPS: dict[str, str] = {}
SHOW = 5           # mismatching rows quoted in a failure


@pytest.fixture(scope="session")
def zoo_dir(tmp_path_factory) -> Path:
    env = os.environ.get("BERTH_ZOO_DIR")
    if env and (Path(env) / zoo.MANIFEST).exists():
        return Path(env)
    d = tmp_path_factory.mktemp("zoo")
    zoo.build_zoo(d, verbose=False)
    return d


@pytest.fixture(scope="session")
def manifest(zoo_dir) -> dict:
    return json.loads((zoo_dir / zoo.MANIFEST).read_text())


def _entry(manifest: dict, name: str) -> dict:
    for m in manifest["models"]:
        if m["name"] == name:
            return m
    reason = manifest.get("skipped", {}).get(name, "not in the manifest")
    pytest.fail(f"zoo model {name} was not built: {reason} (install scripts/requirements.txt)", pytrace=False)


def _rows(inputs: dict[str, np.ndarray], idx) -> str:
    return "; ".join(f"{k}={np.array2string(v[idx], precision=8, max_line_width=200)}" for k, v in inputs.items())


def _check_label(name, out, ref, inputs, extra) -> str | None:
    ref_is_str = ref.dtype.kind in "OU"
    if ref_is_str:
        if out.dtype.kind not in "OU":
            return f"{name}: dtype {out.dtype}, ORT has strings"
        o, r = out.astype(str).ravel(), ref.astype(str).ravel()
    else:
        if out.dtype != ref.dtype:
            return f"{name}: dtype {out.dtype}, ORT {ref.dtype}"
        o, r = out.ravel(), ref.ravel()
    bad = np.flatnonzero(o != r)
    if bad.size == 0:
        return None
    lines = [f"{name}: {bad.size} of {r.size} labels differ from ORT"]
    per_row = int(np.prod(ref.shape[1:])) if ref.ndim > 1 else 1
    for i in bad[:SHOW]:
        row = i // per_row
        ctx = "".join(f" {k}={np.array2string(v[row], precision=7)}" for k, v in extra.items())
        lines.append(f"  row {row}: berth {o[i]!r} ORT {r[i]!r};{ctx} input: {_rows(inputs, row)}")
    return "\n".join(lines)


def _check_float(name, out, ref, inputs, relative: bool, atol: float = ATOL) -> tuple[str | None, float]:
    if out.dtype != ref.dtype:
        return f"{name}: dtype {out.dtype}, ORT {ref.dtype}", float("nan")
    fin_o, fin_r = np.isfinite(out), np.isfinite(ref)
    nan_o, nan_r = np.isnan(out), np.isnan(ref)
    same_nonfinite = (nan_o == nan_r) & (fin_o == fin_r) & np.where(~fin_r & ~nan_r, out == ref, True)
    o64, r64 = out.astype(np.float64), ref.astype(np.float64)
    diff = np.where(fin_r & fin_o, np.abs(o64 - r64), 0.0)
    tol = RTOL_VALUES * np.maximum(1.0, np.abs(np.where(fin_r, r64, 0.0))) if relative else np.full(ref.shape, atol)
    bad = ~same_nonfinite | (diff > tol)
    worst = float(diff.max()) if diff.size else 0.0
    if not bad.any():
        return None, worst
    rows = np.unique(np.argwhere(bad)[:, 0]) if bad.ndim > 1 else np.flatnonzero(bad)
    what = "|d| <= 1e-5*max(1,|ORT|)" if relative else f"|d| <= {atol:g}"
    lines = [f"{name}: {int(bad.sum())} of {ref.size} values outside {what} (max |d| {worst:.3e}) in {rows.size} rows"]
    for r in rows[:SHOW]:
        lines.append(f"  row {r}: berth {np.array2string(out[r], precision=8)} ORT {np.array2string(ref[r], precision=8)}"
                     f" input: {_rows(inputs, r)}")
    return "\n".join(lines), worst


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.xfail(reason=KNOWN_GAPS[n], strict=True))
                                  if n in KNOWN_GAPS else n for n in zoo.ZOO])
def test_zoo_model_matches_ort(berth_bin, zoo_dir, manifest, tmp_path, name):
    entry = _entry(manifest, name)
    model = zoo_dir / entry["file"]
    files = {i["name"]: zoo_dir / i["file"] for i in entry["inputs"]}
    inputs = {k: np.load(f, allow_pickle=False) for k, f in files.items()}
    proc, got = berthpy.berth_run(berth_bin, model, files, tmp_path / "out", timeout=RUN_TIMEOUT_S)
    assert proc.returncode == 0, (
        f"berth run failed (exit {proc.returncode}) on {name} ({entry['estimator']}; ops {', '.join(entry['ops'])})\n"
        f"stderr:\n{proc.stderr.strip()[-3000:]}"
    )
    ref = zoo.run_ort(model, inputs)
    problems, summary = [], []
    floats = {}
    for o in entry["outputs"]:
        stem = berthpy.safe_output_name(o["name"])
        if stem not in got:
            problems.append(f"{o['name']}: berth wrote no {stem}.npy (wrote {sorted(got)})")
            continue
        out = got[stem]
        want = zoo.zipmap_to_matrix(ref[o["name"]]) if o["kind"] == "zipmap" else np.asarray(ref[o["name"]])
        if out.shape != want.shape:
            problems.append(f"{o['name']}: shape {list(out.shape)}, ORT {list(want.shape)}")
            continue
        if o["kind"] == "label":
            continue  # after the float outputs, so a label mismatch can quote the probabilities
        msg, worst = _check_float(o["name"], out, want, inputs, relative=o["kind"] not in ("probabilities", "zipmap"),
                                  atol=PROB_ATOL_OVERRIDES.get(name, ATOL))
        floats[o["name"]] = out
        summary.append(f"{o['name']} max|d|={worst:.2e}")
        if msg:
            problems.append(msg)
    for o in entry["outputs"]:
        stem = berthpy.safe_output_name(o["name"])
        if o["kind"] != "label" or stem not in got:
            continue
        want = np.asarray(ref[o["name"]])
        if got[stem].shape != want.shape:
            continue
        extra = {f"berth {k}": v for k, v in floats.items()}
        extra.update({f"ORT {k}": (zoo.zipmap_to_matrix(ref[k]) if isinstance(ref[k], list) else ref[k])
                      for k in floats})
        msg = _check_label(o["name"], got[stem], want, inputs, extra)
        summary.append(f"{o['name']} exact")
        if msg:
            problems.append(msg)
    print(f"{name}: " + ", ".join(summary))
    assert not problems, f"{name} ({entry['estimator']}) differs from ONNX Runtime:\n" + "\n".join(problems)


def test_zoo_manifest_complete(manifest):
    """Every registered model was built (no optional package missing) and describes its files."""
    assert not manifest.get("skipped"), f"zoo models skipped: {manifest['skipped']}"
    assert [m["name"] for m in manifest["models"]] == list(zoo.ZOO)
    for m in manifest["models"]:
        assert m["rows"] >= 1000 and m["inputs"] and m["outputs"] and m["ops"], m["name"]
