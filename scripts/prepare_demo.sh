# Sourced by the demo scripts: installs what is missing (no Python venv), makes sure curl exists,
# builds berth in debug mode and sets BERTH to the binary.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BERTH_SKIP_VENV=1 scripts/setup.sh
command -v curl >/dev/null || { apt-get install -y -qq curl >/dev/null 2>&1 || sudo apt-get install -y -qq curl >/dev/null; }
echo "==> building berth (first build takes a few minutes)"
swift build --product berth 2>&1 | tail -1
BERTH=.build/debug/berth
