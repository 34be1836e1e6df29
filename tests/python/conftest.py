"""Shared pytest fixtures: the berth binary under test.

`berth_bin` is $BERTH_BIN, else .build/release/berth, else .build/debug/berth (scripts/berthpy.py's
rule); a missing or non-executable binary FAILS the test, never skips it.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import berthpy  # noqa: E402


def berth_path() -> Path:
    """The berth binary, or a test failure saying how to get one (for helpers outside fixtures)."""
    p = berthpy.find_berth()
    problem = berthpy.check_executable(p)
    if problem:
        pytest.fail(problem, pytrace=False)
    return p


@pytest.fixture(scope="session")
def berth_bin() -> Path:
    return berth_path()
