"""`berth drift` on bad input: exit 2 with the file or column named, never a crash.

Run:   .venv/bin/python -m pytest tests/python/test_drift_cli.py -q
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest


def run(berth_bin: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(berth_bin), "drift", *args], capture_output=True, text=True, timeout=60)


@pytest.fixture()
def good(tmp_path: Path) -> Path:
    p = tmp_path / "good.csv"
    p.write_text("a,b\n" + "".join(f"{i * 0.5},{'xy'[i % 2]}\n" for i in range(20)))
    return p


@pytest.mark.parametrize("content,needle", [
    ("", "empty"),                                   # empty file
    ("a,b\n", "no data rows"),                       # header only
    ("1.5,x\n2.5,y\n", "no header row"),              # data without a header
    ("a,c\n1,x\n2,y\n", "'c'"),                      # columns differ
    ("a,b\nnan,x\n,y\n", "'a'"),                     # a column with no value
    ("a,b\n1,x\n2\n", "row 2"),                      # ragged row
])
def test_bad_current_file_exits_2(berth_bin, tmp_path, good, content, needle):
    bad = tmp_path / "bad.csv"
    bad.write_text(content)
    r = run(berth_bin, "--reference", str(good), "--current", str(bad), "--json")
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert needle in r.stderr, r.stderr
    assert "Error:" in r.stderr and r.stdout == ""


def test_missing_file_and_bad_flags_exit_2(berth_bin, tmp_path, good):
    r = run(berth_bin, "--reference", str(tmp_path / "nope.csv"), "--current", str(good))
    assert r.returncode == 2 and "nope.csv" in r.stderr
    for flags, needle in [(["--method", "a=foo"], "unknown method"), (["--method", "b=ks"], "'b'"),
                          (["--threshold", "a=x"], "not a number"), (["--columns", "zz"], "'zz'"),
                          (["--prediction", "zz"], "'zz'"), (["--method", "q=ks"], "'q'")]:
        r = run(berth_bin, "--reference", str(good), "--current", str(good), *flags)
        assert r.returncode == 2, (flags, r.stderr)
        assert needle in r.stderr, (flags, r.stderr)


def test_prediction_reported_apart_and_table_prints(berth_bin, good):
    r = run(berth_bin, "--reference", str(good), "--current", str(good), "--prediction", "b", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert list(d["features"]) == ["a"] and d["prediction"]["method"] == "z"
    assert d["drifted_features"] == 0 and d["drift_share"] == 0 and d["dataset_drift"] is False
    r = run(berth_bin, "--reference", str(good), "--current", str(good))
    assert r.returncode == 0 and "no dataset drift" in r.stdout and "ks" in r.stdout
