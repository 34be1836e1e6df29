#!/usr/bin/env bash
# Runs every Berth test: Swift unit tests, the ONNX node conformance suite, and the Python
# cross-checks against ONNX Runtime (which drive the real `berth` binary).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
echo "==> swift build"
mkdir -p .build
# Build the berth binary and the test bundle by product: a plain `swift build --build-tests`
# would also compile swift-protobuf's bundled protoc (C++, twice), which Berth never uses.
if ! { swift build --product berth && swift build --product berth-fuzz && swift build --product BerthPackageTests; } > .build/build.log 2>&1; then
    grep -E "error" .build/build.log | sort -u | head -40
    echo "build failed (full log: .build/build.log)" >&2
    exit 1
fi
tail -1 .build/build.log
echo "==> swift test"
swift test --skip-build
echo "==> registry tests again, and the shared monitoring state, on PostgreSQL (scripts/postgres.sh: a private server on 127.0.0.1)"
BERTH_TEST_POSTGRES_URL="$(scripts/postgres.sh start)" swift test --skip-build --filter "BerthRegistryTests|PostgresMonitorStateTests"
scripts/postgres.sh clean
echo "==> python cross-checks against ONNX Runtime"
BERTH_BIN="$PWD/.build/debug/berth" .venv/bin/python -m pytest tests/python -q
echo "==> libFuzzer harnesses, ${BERTH_FUZZ_SECONDS:-60} s each"
scripts/fuzz.sh "${BERTH_FUZZ_SECONDS:-60}"
