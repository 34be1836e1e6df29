"""Replicas sharing a PostgreSQL registry (docs/deploy.md): three `berth serve --registry-url`
processes on 127.0.0.1 over one database and one artifact directory.

Checked, each against an independent reference:
- a promote through one replica is served by all three within 2 s (the answers' `model_version`
  and outputs, compared with y = x·W_k + b_k computed here in numpy, atol 1e-4);
- SIGKILL of one replica fails none of the requests on the other two;
- a replica started later serves the current production at once (its first answer);
- GET /api/v1/cluster lists exactly the live replicas (ids given by BERTH_REPLICA_ID);
- PostgreSQL stopped: inference keeps answering from the loaded versions, an admin write answers
  503 naming the database; after PostgreSQL restarts, writes work again and every replica follows;
- PostgreSQL down at start: a CLI command exits 2 naming it, `berth serve` retries with a doubling
  back-off and serves once the database is back.

PostgreSQL comes from scripts/postgres.sh (Debian's `postgresql`); without its binaries the
tests are skipped, saying so.
"""
from __future__ import annotations

import glob
import http.client
import json
import os
import re
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
import berthpy
from conftest import berth_path
from test_registry_cli import NAME, model_bytes
from test_registry_server import ATOL, Server, infer, reference

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "postgres.sh"
CONVERGE_S = 2.0  # the bound: a change through any replica is served by all within 2 s

pytestmark = pytest.mark.skipif(not glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                                reason="PostgreSQL's server binaries are not installed (scripts/setup.sh installs Debian's postgresql)")


class Postgres:
    """A throw-away server started by scripts/postgres.sh in its own directory."""

    def __init__(self, directory: Path):
        self.env = {**os.environ, "BERTH_PG_DIR": str(directory)}
        self.server_url = self.run("start")

    def run(self, action: str) -> str:
        p = subprocess.run([str(SCRIPT), action], capture_output=True, text=True, timeout=120, env=self.env)
        assert p.returncode == 0, f"scripts/postgres.sh {action} -> {p.returncode}\n{p.stderr}"
        return p.stdout.strip()

    def database(self) -> str:
        """A fresh database on the server; its URL."""
        name = "berth_" + uuid.uuid4().hex[:12]
        bindir = sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1]
        host_port = self.server_url.split("@")[1].split("/")[0]
        host, port = host_port.split(":")
        p = subprocess.run([f"{bindir}/psql", "-h", host, "-p", port, "-U", "berth", "-d", "postgres", "-c", f"CREATE DATABASE {name}"],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        return self.server_url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(scope="module")
def pg():
    # Directly under /tmp: as root the server runs as `postgres`, which cannot enter pytest's
    # private (0700) temporary tree.
    server = Postgres(Path(tempfile.mkdtemp(prefix="berth-pg-")))
    try:
        yield server
    finally:
        server.run("clean")


def cli(url: str, data: Path, *args: str) -> str:
    p = subprocess.run([str(berth_path()), "registry", *args, "--data-dir", str(data), "--registry-url", url],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, f"berth registry {' '.join(args)} -> {p.returncode}\n{p.stderr}"
    return p.stdout


def setup_registry(pg: Postgres, tmp_path: Path, n: int) -> tuple[str, Path]:
    """A fresh database and data directory with versions 1..n of NAME, production at 1."""
    url, data = pg.database(), tmp_path / "data"
    for k in range(1, n + 1):
        (tmp_path / f"m{k}.onnx").write_bytes(model_bytes(k))
        cli(url, data, "push", NAME, str(tmp_path / f"m{k}.onnx"))
    cli(url, data, "alias", NAME, "production", "1")
    return url, data


def replica(url: str, data: Path, tmp_path: Path, name: str) -> Server:
    os.environ["BERTH_REPLICA_ID"] = name  # read by the child at start (Server copies os.environ)
    try:
        # The default 1 s poll: the LISTEN wake-up is what keeps convergence well under it.
        return Server(data, tmp_path / f"{name}.log", "--registry-url", url, "--poll-interval-ms", "1000")
    finally:
        del os.environ["BERTH_REPLICA_ID"]


def check_answer(status, version, y, x, want_version: int | None = None) -> int:
    assert status == 200, (status, y)
    if want_version is not None:
        assert version == want_version
    np.testing.assert_allclose(y, reference(version, x), atol=ATOL)
    return version


X = np.random.default_rng(7).normal(size=(2, 4)).astype(np.float32)


class Load:
    """Threads sending inference requests to each server until stopped; counts failures per server."""

    def __init__(self, servers: list[Server], per_server: int = 2):
        self.stop_flag = threading.Event()
        self.ok = {s.port: 0 for s in servers}
        self.failed: dict[int, list[str]] = {s.port: [] for s in servers}
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.loop, args=(s,), daemon=True) for s in servers for _ in range(per_server)]
        for t in self.threads:
            t.start()

    def loop(self, server: Server) -> None:
        while not self.stop_flag.is_set():
            try:
                status, version, y = infer(server, X)
                good = status == 200 and np.allclose(y, reference(version, X), atol=ATOL)
                why = "" if good else f"status {status}: {y}"
            except (OSError, http.client.HTTPException, ValueError) as e:
                good, why = False, repr(e)
            with self.lock:
                if good:
                    self.ok[server.port] += 1
                else:
                    self.failed[server.port].append(why)

    def stop(self) -> None:
        self.stop_flag.set()
        for t in self.threads:
            t.join(timeout=30)


def test_three_replicas_converge_survive_a_kill_and_admit_latecomers(pg, tmp_path):
    url, data = setup_registry(pg, tmp_path, 3)
    servers = [replica(url, data, tmp_path, f"r{i}") for i in range(3)]
    try:
        for s in servers:
            check_answer(*infer(s, X), X, want_version=1)
        ids = sorted(r["id"] for r in servers[1].api("GET", "/cluster")["replicas"])
        # Heartbeats come every poll interval: all three are registered within a few seconds.
        deadline = time.time() + 5
        while ids != ["r0", "r1", "r2"] and time.time() < deadline:
            time.sleep(0.2)
            ids = sorted(r["id"] for r in servers[1].api("GET", "/cluster")["replicas"])
        assert ids == ["r0", "r1", "r2"]

        # Promote through r0; r0 has switched when the call returns, the others follow.
        for target in (2, 3):
            t0 = time.time()
            servers[0].api("POST", f"/models/{NAME}/promote", {"version": target, "reason": "replica test"})
            pending = {s.port for s in servers}
            seen_at: dict[int, float] = {}
            while pending and time.time() - t0 < CONVERGE_S + 3:
                for s in servers:
                    if s.port in pending and check_answer(*infer(s, X), X) == target:
                        pending.discard(s.port)
                        seen_at[s.port] = time.time() - t0
                time.sleep(0.02)
            print(f"promote to {target}: served by each replica after "
                  + ", ".join(f"{seen_at.get(s.port, float('nan')):.3f} s" for s in servers))
            assert not pending, f"replicas on ports {pending} still serve the old version after {CONVERGE_S + 3} s"
            assert max(seen_at.values()) <= CONVERGE_S, seen_at

        # SIGKILL one replica under load: the other two fail nothing.
        load = Load(servers[:2])
        time.sleep(1.0)
        servers[2].kill9()
        time.sleep(2.0)
        load.stop()
        print(f"kill: requests answered per surviving replica {list(load.ok.values())}")
        assert all(n > 0 for n in load.ok.values()), load.ok
        assert all(not f for f in load.failed.values()), {p: f[:3] for p, f in load.failed.items()}

        # The killed replica's heartbeat stops; it drops out of the list after the liveness window.
        deadline = time.time() + 15
        while time.time() < deadline:
            ids = sorted(r["id"] for r in servers[0].api("GET", "/cluster")["replicas"])
            if ids == ["r0", "r1"]:
                break
            time.sleep(0.5)
        assert ids == ["r0", "r1"]

        # A replica started later serves the current production with its first answer.
        late = replica(url, data, tmp_path, "r3")
        servers[2] = late
        check_answer(*infer(late, X), X, want_version=3)
    finally:
        for s in servers:
            s.stop()


def test_postgres_outage_keeps_serving_and_refuses_writes_until_it_returns(pg, tmp_path):
    url, data = setup_registry(pg, tmp_path, 2)
    servers = [replica(url, data, tmp_path, f"o{i}") for i in range(2)]
    try:
        pg.run("stop")
        try:
            for _ in range(20):
                for s in servers:
                    check_answer(*infer(s, X), X, want_version=1)
            status, _, raw = servers[0].request("POST", f"/api/v1/models/{NAME}/promote", {"version": 2})
            doc = json.loads(raw)
            assert status == 503, (status, doc)
            assert "database" in doc["error"] and "unavailable" in doc["error"], doc
            # Reads of the registry fail the same way, clearly; health stays up.
            assert servers[1].request("GET", f"/api/v1/models/{NAME}")[0] == 503
            assert servers[1].request("GET", "/v2/health/ready")[0] == 200
        finally:
            pg.run("start")
        # Recovery: the first write may meet the back-off window; then every replica follows.
        deadline = time.time() + 15
        while True:
            status, _, raw = servers[0].request("POST", f"/api/v1/models/{NAME}/promote", {"version": 2})
            if status == 200 or time.time() > deadline:
                break
            time.sleep(0.5)
        assert status == 200, raw
        t0 = time.time()
        while time.time() - t0 < CONVERGE_S + 3 and infer(servers[1], X)[1] != 2:
            time.sleep(0.05)
        check_answer(*infer(servers[1], X), X, want_version=2)
        print(f"after the outage: the other replica served the promotion after {time.time() - t0:.3f} s")
    finally:
        for s in servers:
            s.stop()


def test_serve_waits_for_postgres_at_start(pg, tmp_path):
    """Nothing listens at the URL: serve says so and retries (it is not a crash)."""
    dead = f"postgres://berth@127.0.0.1:{berthpy.free_port()}/berth"
    log = tmp_path / "wait.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(berth_path()), "serve", "--insecure-no-auth", "--registry", "--data-dir", str(tmp_path / "d"),
                                 "--registry-url", dead, "--port", "0"], stdout=out, stderr=subprocess.STDOUT)
        try:
            time.sleep(4)
            assert proc.poll() is None, log.read_text()
        finally:
            proc.kill()
            proc.wait()
    text = log.read_text()
    assert "registry database unreachable; retrying" in text, text
    assert "127.0.0.1" in text and "is PostgreSQL running?" in text, text


def test_serve_started_while_postgres_is_down_serves_once_it_returns(pg, tmp_path):
    """PostgreSQL down at start: a CLI command fails at once (exit 2, naming the database);
    `berth serve` logs the reason and retries with a doubling back-off (1 s, then 2 s …), and
    serves the registry's production as soon as the database is back."""
    url, data = setup_registry(pg, tmp_path, 1)
    pg.run("stop")
    server = None
    try:
        p = subprocess.run([str(berth_path()), "registry", "list", "--data-dir", str(data), "--registry-url", url],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 2 and "unavailable" in p.stderr and "127.0.0.1" in p.stderr, (p.returncode, p.stderr)
        restart = threading.Timer(4.5, lambda: pg.run("start"))
        restart.start()
        t0 = time.time()
        server = replica(url, data, tmp_path, "late")  # waits until ready
        restart.join()
        print(f"ready {time.time() - t0:.1f} s after the start, the database back after 4.5 s")
        check_answer(*infer(server, X), X, want_version=1)
        delays = [int(d) for d in re.findall(r"retry_in_s[^0-9]{1,4}(\d+)", server.log_path.read_text())]
        assert delays[:2] == [1, 2], delays
    finally:
        pg.run("start")
        if server:
            server.stop()


def test_an_alert_rollback_happens_once_for_the_cluster(pg, tmp_path):
    """Three replicas watch the same rule on their own traffic; only the leader (advisory lock)
    evaluates and acts, and writes the rule's state and history to the database, which every
    replica shows. Production went 1 → 2 → 3, so three acting replicas would walk it back twice
    (3 → 2 → 1); the cluster must record exactly one rule rollback, 3 → 2. Then the leader is
    killed: another replica takes over from the written state (still firing, fired once, the
    same last actions), so the rule does not fire or roll back a second time."""
    url, data = setup_registry(pg, tmp_path, 3)
    for v in ("2", "3"):
        cli(url, data, "promote", NAME, v)
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - name: busy\n    model: digits\n    when: request_rate > 0\n    min_samples: 1\n"
                     "    window: 5s\n    actions: [rollback, log]\n")
    servers = []
    try:
        for i in range(3):
            os.environ["BERTH_REPLICA_ID"] = f"a{i}"
            try:
                servers.append(Server(data, tmp_path / f"a{i}.log", "--registry-url", url, "--alert-rules", str(rules),
                                      "--alert-interval-ms", "200"))
            finally:
                del os.environ["BERTH_REPLICA_ID"]
        load = Load(servers, per_server=1)
        time.sleep(4.0)
        load.stop()
        time.sleep(1.0)
        doc = json.loads(cli(url, data, "history", NAME, "--json"))
        history = doc["events"] if isinstance(doc, dict) else doc
        rollbacks = [e for e in history if e["action"] == "rollback"]
        assert [(e["from"], e["to"]) for e in rollbacks] == [(3, 2)], rollbacks
        assert rollbacks[0]["actor"] == "rule:busy"
        outcomes = [s.api("GET", "/alerts") for s in servers]
        statuses = [o["alerts"][0]["status"] for o in outcomes]
        assert all(st["fired"] == 1 and st["state"] == "firing" for st in statuses), statuses
        assert all(st["last_actions"] == ["rollback: production 3 → 2", "log: written"] for st in statuses), statuses
        fired = [e for e in outcomes[0]["history"] if e["transition"] == "fired"]
        assert len(fired) == 1 and all(o["history"] == outcomes[0]["history"] for o in outcomes), outcomes
        for s in servers:
            check_answer(*infer(s, X), X, want_version=2)

        # Kill the leader under load: a survivor takes the lock and continues from the written state.
        leader = next(s for s, i in zip(servers, range(3)) if f"a{i}" == fired[0]["replica"])
        survivors = [s for s in servers if s is not leader]
        load = Load(survivors, per_server=1)
        leader.kill9()
        time.sleep(3.0)
        load.stop()
        after = [s.api("GET", "/alerts") for s in survivors]
        for o in after:
            st = o["alerts"][0]["status"]
            assert st["state"] == "firing" and st["fired"] == 1, st
            assert st["last_actions"] == ["rollback: production 3 → 2", "log: written"], st
            assert [e["transition"] for e in o["history"]].count("fired") == 1, o["history"]
        doc = json.loads(cli(url, data, "history", NAME, "--json"))
        history = doc["events"] if isinstance(doc, dict) else doc
        assert [(e["from"], e["to"]) for e in history if e["action"] == "rollback"] == [(3, 2)]
        # The new leader writes the state now (the database says who wrote it last).
        bindir = sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1]
        host, port = url.split("@")[1].split("/")[0].split(":")
        writer = subprocess.run([f"{bindir}/psql", "-h", host, "-p", port, "-U", "berth", "-d", url.rsplit("/", 1)[1], "-tAc",
                                 "SELECT replica FROM alert_state WHERE rule = 'busy'"], capture_output=True, text=True, timeout=60)
        assert writer.returncode == 0, writer.stderr
        assert writer.stdout.strip() in {f"a{i}" for i in range(3)} - {fired[0]["replica"]}, writer.stdout
    finally:
        for s in servers:
            s.stop()


def test_keys_are_shared_and_a_revocation_reaches_every_replica(pg, tmp_path):
    """A key created by the CLI against the database works on every replica; revoked by the CLI,
    every replica refuses it within the convergence bound (NOTIFY, else the 1 s poll)."""
    url, data = setup_registry(pg, tmp_path, 1)

    def keys(*args: str) -> str:
        p = subprocess.run([str(berth_path()), "keys", *args, "--data-dir", str(data), "--registry-url", url],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        return p.stdout

    secret = next(line for line in keys("create", "--tenant", "ops", "--role", "admin").splitlines() if line.startswith("brt_"))
    key_id = secret.split("_")[1]
    auth = {"Authorization": f"Bearer {secret}"}
    servers = [Server(data, tmp_path / f"k{i}.log", "--registry-url", url, auth=True) for i in range(2)]
    try:
        for s in servers:
            assert s.request("GET", "/v2/models/digits", headers=auth)[0] == 200
            assert s.request("GET", "/api/v1/models")[0] == 401
        # PostgreSQL down: a key already checked keeps working for inference metadata; an unseen
        # key cannot be checked and is refused (never let in).
        pg.run("stop")
        try:
            other = {"Authorization": "Bearer brt_0123456789ab_" + "0" * 64}
            for s in servers:
                assert s.request("GET", "/v2/models/digits", headers=auth)[0] == 200
                assert s.request("GET", "/v2/models/digits", headers=other)[0] in (401, 503)
        finally:
            pg.run("start")
        keys("revoke", key_id)
        t0 = time.time()
        pending = {s.port for s in servers}
        while pending and time.time() - t0 < CONVERGE_S + 3:
            for s in servers:
                if s.port in pending and s.request("GET", "/v2/models/digits", headers=auth)[0] == 401:
                    pending.discard(s.port)
            time.sleep(0.02)
        elapsed = time.time() - t0
        print(f"revocation refused by every replica after {elapsed:.3f} s")
        assert not pending and elapsed <= CONVERGE_S, (pending, elapsed)
    finally:
        for s in servers:
            s.stop()
