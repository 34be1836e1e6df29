# Sourced by the demo scripts: installs what is missing (no Python venv), makes sure curl exists,
# builds berth in debug mode and sets BERTH to the binary.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BERTH_SKIP_VENV=1 scripts/setup.sh
command -v curl >/dev/null || { apt-get install -y -qq curl >/dev/null 2>&1 || sudo apt-get install -y -qq curl >/dev/null; }
echo "==> building berth (first build takes a few minutes)"
swift build --product berth 2>&1 | tail -1
BERTH=.build/debug/berth

# An 8x8 image of a 0 from scikit-learn's digits data, as a V2 inference request for the label.
ZERO='{"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32",
  "data": [0,0,5,13,9,1,0,0, 0,0,13,15,10,15,5,0, 0,3,15,2,0,11,8,0, 0,4,12,0,0,8,8,0,
           0,5,8,0,0,9,8,0, 0,4,11,0,1,12,7,0, 0,2,14,5,10,12,0,0, 0,0,6,13,10,0,0,0]}],
  "outputs": [{"name": "label"}]}'

# start_server URL ARGS...: runs `berth serve ARGS` in the background as $SERVER, stops it when the
# script exits (then runs $CLEANUP, if set), and waits until URL answers ready.
start_server() {
    local url=$1
    shift
    $BERTH serve "$@" &
    SERVER=$!
    trap 'kill -TERM $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; eval "${CLEANUP:-}"' EXIT
    for _ in $(seq 1 100); do
        curl -sf "$url/v2/health/ready" >/dev/null && break
        sleep 0.2
    done
}
