#!/usr/bin/env bash
# Berth's main job on a bundled example: build, then classify handwritten digits with the
# scikit-learn MLP in examples/ (trained on sklearn's digits data, converted by skl2onnx).
set -euo pipefail
cd "$(dirname "$0")/.."
BERTH_SKIP_VENV=1 scripts/setup.sh
echo "==> building berth"
swift build --product berth 2>&1 | tail -1
BERTH=.build/debug/berth
echo "==> berth inspect examples/digits_mlp.onnx"
$BERTH inspect examples/digits_mlp.onnx
echo "==> berth run examples/digits_mlp.onnx --input input=examples/digits_sample.npy"
$BERTH run examples/digits_mlp.onnx --input input=examples/digits_sample.npy --output-dir .build/demo-out
echo "(true labels of these 8 test digits: 2 0 4 9 4 1 2 4)"
