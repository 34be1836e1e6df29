#!/usr/bin/env bash
# Berth's main job on the bundled examples: build berth, serve the scikit-learn digits classifiers
# in examples/ (an MLPClassifier and a LogisticRegression trained on sklearn's digits data,
# exported by skl2onnx) over the Open Inference Protocol (KServe V2), and classify one
# handwritten digit through HTTP with each.
# The server keeps running afterwards; Ctrl-C stops it gracefully.
set -euo pipefail
source "$(dirname "$0")/prepare_demo.sh"
PORT="${PORT:-8000}"

echo "==> berth run (in-process engine) on 8 sample digits"
$BERTH run examples/digits_mlp.onnx --input input=examples/digits_sample.npy | head -2
echo "    (true labels: 2 0 4 9 4 1 2 4)"

echo "==> berth serve --demo on http://127.0.0.1:$PORT"
# No gRPC unless asked: demo_registry.sh serves REST on 8001, which --port 8000 would give gRPC.
# The demo runs open (a warning says so); a shared server uses keys: docs/security.md.
start_server "http://127.0.0.1:$PORT" --demo --port "$PORT" --grpc-port "${GRPC_PORT:-0}" --insecure-no-auth
echo "==> GET /v2/models/digits"
curl -s "http://127.0.0.1:$PORT/v2/models/digits"; echo
for model in digits digits_logreg; do
    echo "==> POST /v2/models/$model/infer (an 8x8 image of a 0)"
    curl -s -X POST "http://127.0.0.1:$PORT/v2/models/$model/infer" -H 'Content-Type: application/json' -d "$ZERO"; echo
done
echo "==> serving; try: curl -s http://127.0.0.1:$PORT/metrics | head   (Ctrl-C stops)"
wait $SERVER
