"""Triton's logging extension through tritonclient.http: `get_log_settings` / `update_log_settings`
change the level of the running server — an info line (a model load) disappears once `log_info` is
off and comes back with it; bad settings are refused (400) and change nothing."""
from __future__ import annotations

import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

import berthpy
from conftest import berth_path

import tritonclient.http as httpclient  # noqa: E402
from tritonclient.utils import InferenceServerException  # noqa: E402

DIGITS = Path(__file__).resolve().parents[2] / "examples" / "digits_mlp.onnx"


def test_log_settings_change_what_the_running_server_logs(tmp_path):
    (tmp_path / "digits" / "1").mkdir(parents=True)
    shutil.copy(DIGITS, tmp_path / "digits" / "1" / "model.onnx")
    port = berthpy.free_port()
    gport = berthpy.free_port()
    proc = subprocess.Popen([str(berth_path()), "serve", "--insecure-no-auth", "--model-repository", str(tmp_path), "--port", str(port),
                             "--grpc-port", str(gport), "--model-control", "explicit"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()
    try:
        c = httpclient.InferenceServerClient(f"127.0.0.1:{port}")
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if c.is_server_live():
                    break
            except Exception:
                time.sleep(0.1)
        assert "logging" in c.get_server_metadata()["extensions"]
        assert c.get_log_settings() == {"log_file": "", "log_info": True, "log_warning": True, "log_error": True,
                                        "log_verbose_level": 0, "log_format": "default"}

        def loads_logged() -> bool:
            before = len(lines)
            c.load_model("digits")
            c.unload_model("digits")
            time.sleep(0.5)
            return any("loading model" in line for line in lines[before:])

        assert loads_logged()
        assert c.update_log_settings({"log_info": False})["log_info"] is False
        assert not loads_logged()
        assert c.update_log_settings({"log_info": True, "log_verbose_level": 1})["log_verbose_level"] == 1
        assert loads_logged()
        for bad in ({"log_file": "/tmp/x.log"}, {"log_format": "xml"}, {"log_verbose_level": -1}):
            with pytest.raises(InferenceServerException):
                c.update_log_settings(bad)
        assert c.get_log_settings()["log_verbose_level"] == 1
        # The same settings over gRPC (Triton's LogSettings and TraceSetting RPCs).
        import tritonclient.grpc as grpcclient
        g = grpcclient.InferenceServerClient(f"127.0.0.1:{gport}")
        got = g.get_log_settings(as_json=True)["settings"]
        assert got["log_verbose_level"] == {"uint32_param": 1} and got["log_info"] == {"bool_param": True}, got
        g.update_log_settings({"log_verbose_level": 0, "log_info": False})
        assert c.get_log_settings()["log_info"] is False and c.get_log_settings()["log_verbose_level"] == 0
        assert not loads_logged()
        with pytest.raises(InferenceServerException):
            g.update_log_settings({"log_file": "/tmp/x.log"})
        trace = g.get_trace_settings(as_json=True)["settings"]
        assert trace["trace_level"] == {"value": ["OFF"]} and trace["trace_mode"] == {"value": ["opentelemetry"]}, trace
        with pytest.raises(InferenceServerException):  # no --otel-endpoint: tracing cannot be switched on
            g.update_trace_settings(settings={"trace_level": ["TIMESTAMPS"]})
    finally:
        berthpy.stop_process(proc)
