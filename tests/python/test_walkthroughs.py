"""The walkthroughs README shows run as written: scripts/demo_registry.sh end to end, scripts/demo.sh
until it serves (then Ctrl-C), and every `$B ...` line of README's "Using berth" block whose files
exist in the repository.

The scripts build berth themselves (a no-op when it is built); BERTH_SKIP_VENV keeps them from
touching the Python venv.
"""
from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import time
from pathlib import Path

from conftest import berth_path
import berthpy

REPO = Path(__file__).resolve().parents[2]


def script_env() -> dict:
    return {**os.environ, "BERTH_SKIP_VENV": "1", "PORT": str(berthpy.free_port())}


def test_demo_registry_script_promotes_and_rolls_back():
    out = subprocess.run(["bash", "scripts/demo_registry.sh"], cwd=REPO, env=script_env(), capture_output=True,
                         text=True, timeout=900)
    assert out.returncode == 0, out.stdout + out.stderr
    versions = re.findall(r'"model_version":"(\d+)"', out.stdout)
    assert versions == ["1", "2", "1"], out.stdout  # production, after promote, after rollback
    assert "rollback" in out.stdout and "promote" in out.stdout


def test_demo_script_classifies_then_stops_on_ctrl_c():
    proc = subprocess.Popen(["bash", "scripts/demo.sh"], cwd=REPO, env=script_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines = []
    deadline = time.time() + 900
    try:
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("==> serving") or time.time() > deadline:
                break
        text = "".join(lines)
        assert "==> serving" in text, text
        labels = re.findall(r'"name":"label","datatype":"INT64","shape":\[1\],"data":\[(\d+)\]', text)
        assert labels == ["0", "0"], text  # both models classify the image of a 0
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=60)


def readme_commands() -> list[str]:
    readme = (REPO / "README.md").read_text()
    block = readme.split("## Using berth", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    return [line.split("#", 1)[0].strip() for line in block.splitlines() if line.startswith("$B ")]


def test_readme_commands_on_bundled_files_run_as_written(tmp_path):
    ran = 0
    for line in readme_commands():
        argv = shlex.split(line)[1:]
        files = [a.split("=", 1)[-1] for a in argv if re.search(r"\.(onnx|npy|csv)$", a)]
        if not files or not all((REPO / f).exists() for f in files):
            continue  # a placeholder (model.onnx, test.csv): shown as a pattern, not a walkthrough
        if "--output-dir" in argv:
            argv[argv.index("--output-dir") + 1] = str(tmp_path / "out")
        out = subprocess.run([str(berth_path()), *argv], cwd=REPO, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, (line, out.stdout, out.stderr)
        ran += 1
    assert ran >= 2, readme_commands()
