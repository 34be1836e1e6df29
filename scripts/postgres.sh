#!/usr/bin/env bash
# A throw-away PostgreSQL server for tests (the shared registry of `berth serve --registry-url`):
# its own data directory, listening on 127.0.0.1 only, on a free port, trust authentication
# (loopback, test data only). Needs Debian's `postgresql` package (scripts/setup.sh installs it).
#
#   scripts/postgres.sh start   # initdb if needed, start, create database `berth`; prints the URL
#   scripts/postgres.sh url     # prints the URL of the running server
#   scripts/postgres.sh stop    # fast shutdown (the data directory stays; `clean` removes it)
#   scripts/postgres.sh clean   # stop and remove the data directory
#
# BERTH_PG_DIR chooses the directory (default /tmp/berth-pg-$UID). As root, the server runs as
# the `postgres` user (initdb refuses root); otherwise as the current user, no sudo needed.
# With BERTH_PG_SSL_CERT and BERTH_PG_SSL_KEY (PEM files), `start` turns TLS on with that
# certificate and refuses unencrypted TCP connections (tests of `?sslmode=` in the URL).
set -euo pipefail

DIR="${BERTH_PG_DIR:-/tmp/berth-pg-$(id -u)}"
BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"
if [ -z "$BIN" ] || [ ! -x "$BIN/initdb" ]; then
    echo "error: PostgreSQL's server binaries are not installed (apt-get install postgresql; scripts/setup.sh does it)" >&2
    exit 3
fi

as_owner() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

url() { echo "postgres://berth@127.0.0.1:$(cat "$DIR/port")/berth"; }

running() { [ -f "$DIR/port" ] && as_owner "$BIN/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; }

start() {
    mkdir -p "$DIR"
    if [ "$(id -u)" -eq 0 ]; then chown postgres: "$DIR"; fi
    if running; then url; return; fi
    if [ ! -f "$DIR/data/PG_VERSION" ]; then
        as_owner "$BIN/initdb" -D "$DIR/data" -U berth --auth=trust -E UTF8 --no-instructions >"$DIR/initdb.log" 2>&1 \
            || { cat "$DIR/initdb.log" >&2; exit 1; }
    fi
    # A restart keeps the port when it is still free, so clients' URLs stay valid.
    local port
    port="$(python3 - "$(cat "$DIR/port" 2>/dev/null || echo 0)" <<'PY'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as PostgreSQL binds: TIME_WAIT is no obstacle
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
PY
)"
    as_owner bash -c "echo $port > '$DIR/port'"
    local tls=""
    if [ -n "${BERTH_PG_SSL_CERT:-}" ] && [ -n "${BERTH_PG_SSL_KEY:-}" ]; then
        # The server reads its key only when it belongs to it and nobody else can read it.
        cp "$BERTH_PG_SSL_CERT" "$DIR/server.crt"
        cp "$BERTH_PG_SSL_KEY" "$DIR/server.key"
        chmod 600 "$DIR/server.key"
        if [ "$(id -u)" -eq 0 ]; then chown postgres: "$DIR/server.crt" "$DIR/server.key"; fi
        as_owner bash -c "printf 'local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostnossl all all 127.0.0.1/32 reject\n' > '$DIR/pg_hba_tls.conf'"
        tls="-c ssl=on -c ssl_cert_file='$DIR/server.crt' -c ssl_key_file='$DIR/server.key' -c hba_file='$DIR/pg_hba_tls.conf'"
    fi
    as_owner "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 30 \
        -o "-p $port -c listen_addresses=127.0.0.1 -k '$DIR' -c max_connections=200 -c fsync=off $tls" start >/dev/null \
        || { cat "$DIR/server.log" >&2; exit 1; }
    as_owner "$BIN/psql" -h 127.0.0.1 -p "$port" -U berth -d postgres -tAq \
        -c "SELECT 1 FROM pg_database WHERE datname = 'berth'" | grep -q 1 \
        || as_owner "$BIN/createdb" -h 127.0.0.1 -p "$port" -U berth berth
    url
}

stop() {
    if [ -f "$DIR/data/PG_VERSION" ]; then as_owner "$BIN/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null 2>&1 || true; fi
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    url) running && url || { echo "error: not running (scripts/postgres.sh start)" >&2; exit 1; } ;;
    clean) stop; rm -rf "$DIR" ;;
    *) echo "usage: $0 start|stop|url|clean" >&2; exit 2 ;;
esac
