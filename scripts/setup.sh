#!/usr/bin/env bash
# Installs what Berth needs on Debian/Ubuntu and is missing: OpenBLAS, the ONNX node conformance
# tests, a Python venv (.venv) with ONNX Runtime & co. for cross-checks. Safe to run repeatedly.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

need=()
# libgomp1: the OpenMP runtime LightGBM's wheel links against (zoo tests); libsqlite3-dev: the registry (GRDB);
# chromium: the dashboard test renders /dashboard headless; postgresql: the shared registry's tests
# (scripts/postgres.sh runs a private server; the Debian service itself is not needed).
for pkg in libopenblas-dev libonnx-testdata libgomp1 libsqlite3-dev chromium postgresql; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
# libdnnl-dev: oneDNN 2.x, the engine's Conv and GEMM kernels (the CDNNL system-library target).
dpkg -s libdnnl-dev >/dev/null 2>&1 || need+=(libdnnl-dev)
# openssl: the CLI makes the throw-away CA and server certificate of tests/python/test_postgres_tls.py.
dpkg -s openssl >/dev/null 2>&1 || need+=(openssl)
if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then need+=(python3-venv); fi
if [ ${#need[@]} -gt 0 ]; then
    echo "==> installing Debian packages: ${need[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

if ! command -v swift >/dev/null 2>&1; then
    echo "error: the Swift toolchain (6.x) is not on PATH; install it from swift.org first" >&2
    exit 1
fi

if [ "${BERTH_SKIP_VENV:-0}" != "1" ]; then
    if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import onnxruntime, onnx, sklearn, skl2onnx, pytest, jwt, cryptography, kubernetes_validate, yaml, tritonclient.http, tritonclient.grpc, xgboost, lightgbm, catboost, onnxmltools, pandas' >/dev/null 2>&1; then
        echo "==> preparing Python venv .venv (onnx, onnxruntime, scikit-learn, skl2onnx, tritonclient, pytest)"
        [ -x .venv/bin/python ] || python3 -m venv .venv
        .venv/bin/pip install -q --upgrade pip >/dev/null
        .venv/bin/pip install -q -r scripts/requirements.txt
    fi
    # A venv made before the kserve SDK joined requirements.txt (tests/python/test_kserve_readiness.py).
    if ! .venv/bin/python -c 'import kserve' >/dev/null 2>&1; then
        echo "==> adding the kserve SDK to .venv"
        .venv/bin/pip install -q -r scripts/requirements.txt
    fi
fi
