#!/usr/bin/env bash
# The registry on the bundled examples: record two versions of a digits classifier (the
# LogisticRegression, then the MLPClassifier), serve production from the registry, promote
# version 2 and roll it back through the admin API while showing which version answers, and
# print the history. Uses a temporary data directory; the server stops at the end.
set -euo pipefail
source "$(dirname "$0")/prepare_demo.sh"
PORT="${PORT:-8001}"
DATA="$(mktemp -d)"
URL="http://127.0.0.1:$PORT"

echo "==> berth registry push / promote (data directory $DATA)"
$BERTH registry push digits examples/digits_logreg.onnx --data-dir "$DATA" --tag kind=logreg --reason "first model"
$BERTH registry push digits examples/digits_mlp.onnx --data-dir "$DATA" --tag kind=mlp --parent 1
$BERTH registry promote digits 1 --data-dir "$DATA" --reason "baseline"
$BERTH registry list --data-dir "$DATA"

echo "==> berth serve --registry on $URL"
$BERTH serve --registry --data-dir "$DATA" --port "$PORT" --log-level warning &
SERVER=$!
trap 'kill -TERM $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 1 100); do
    curl -sf "$URL/v2/health/ready" >/dev/null && break
    sleep 0.2
done
ZERO='{"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32",
  "data": [0,0,5,13,9,1,0,0, 0,0,13,15,10,15,5,0, 0,3,15,2,0,11,8,0, 0,4,12,0,0,8,8,0,
           0,5,8,0,0,9,8,0, 0,4,11,0,1,12,7,0, 0,2,14,5,10,12,0,0, 0,0,6,13,10,0,0,0]}],
  "outputs": [{"name": "label"}]}'
infer() {
    echo -n "    answer: "
    curl -s -X POST "$URL/v2/models/digits/infer" -H 'Content-Type: application/json' -d "$ZERO"; echo
}
infer
echo "==> POST /api/v1/models/digits/promote {\"version\": 2}"
curl -s -X POST "$URL/api/v1/models/digits/promote" -H 'x-berth-actor: demo' -H 'Content-Type: application/json' -d '{"version": 2, "reason": "try the MLP"}'; echo
infer
echo "==> POST /api/v1/models/digits/rollback"
curl -s -X POST "$URL/api/v1/models/digits/rollback" -H 'x-berth-actor: demo' -H 'Content-Type: application/json' -d '{"reason": "back to the baseline"}'; echo
infer
echo "==> berth registry history digits"
$BERTH registry history digits --data-dir "$DATA"
