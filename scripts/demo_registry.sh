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
echo "==> berth keys create (the server refuses requests without a key)"
KEY=$($BERTH keys create --tenant demo --role deployer --data-dir "$DATA" | tail -1)
# Pushed by the CLI, the model has no owner yet: the demo tenant takes it, so its key may promote.
$BERTH tenants assign digits --tenant demo --data-dir "$DATA"
AUTH="Authorization: Bearer $KEY"

echo "==> berth serve --registry on $URL"
CLEANUP='rm -rf "$DATA"'
start_server "$URL" --registry --data-dir "$DATA" --port "$PORT" --log-level warning
infer() {
    echo -n "    answer: "
    curl -s -X POST "$URL/v2/models/digits/infer" -H "$AUTH" -H 'Content-Type: application/json' -d "$ZERO"; echo
}
infer
echo "==> POST /api/v1/models/digits/promote {\"version\": 2}"
curl -s -X POST "$URL/api/v1/models/digits/promote" -H "$AUTH" -H 'x-berth-actor: demo' -H 'Content-Type: application/json' -d '{"version": 2, "reason": "try the MLP"}'; echo
infer
echo "==> POST /api/v1/models/digits/rollback"
curl -s -X POST "$URL/api/v1/models/digits/rollback" -H "$AUTH" -H 'x-berth-actor: demo' -H 'Content-Type: application/json' -d '{"reason": "back to the baseline"}'; echo
infer
echo "==> berth registry history digits"
$BERTH registry history digits --data-dir "$DATA"
