"""`berth --version`, and `berth serve --demo` from a binary copied out of the checkout and started
in an unrelated working directory: the demo models are built into the binary
(scripts/embed_demo_models.py), and their answers equal ONNX Runtime's on examples/ — which also
fails when the embedded copy drifts from the example files."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import onnxruntime as ort
import tritonclient.http as httpclient

import berthpy
from conftest import berth_path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_version():
    r = subprocess.run([str(berth_path()), "--version"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and re.fullmatch(r"\d+\.\d+\.\d+\n", r.stdout), (r.stdout, r.stderr)


def test_demo_from_a_copied_binary_in_another_directory(tmp_path):
    (tmp_path / "bin").mkdir()
    (tmp_path / "elsewhere").mkdir()
    berth = tmp_path / "bin" / "berth"
    shutil.copy(berth_path(), berth)
    port = berthpy.free_port()
    proc = subprocess.Popen([str(berth), "serve", "--demo", "--insecure-no-auth", "--port", str(port), "--grpc-port", "0"],
                            cwd=tmp_path / "elsewhere", stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        client = httpclient.InferenceServerClient(f"127.0.0.1:{port}")
        for line in proc.stdout:
            if "models loaded" in line:
                break
        else:
            raise AssertionError(f"berth serve --demo exited with {proc.wait()}")
        x = np.load(EXAMPLES / "digits_sample.npy").astype(np.float32)[:8]
        for model, file in (("digits", "digits_mlp.onnx"), ("digits_logreg", "digits_logreg.onnx")):
            sess = ort.InferenceSession(str(EXAMPLES / file), providers=["CPUExecutionProvider"])
            i = httpclient.InferInput(sess.get_inputs()[0].name, list(x.shape), "FP32")
            i.set_data_from_numpy(x)
            res = client.infer(model, [i])
            for out, want in zip(sess.get_outputs(), sess.run(None, {sess.get_inputs()[0].name: x})):
                got = res.as_numpy(out.name)
                if want.dtype.kind == "f":
                    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=model)
                else:
                    np.testing.assert_array_equal(got.reshape(want.shape), want, err_msg=model)
    finally:
        berthpy.stop_process(proc)
