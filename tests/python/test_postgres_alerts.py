"""Request-window alert rules over a cluster (issue 16): three `berth serve --registry-url`
replicas over one PostgreSQL database, each counting its requests per second into it; the leader
(advisory lock) evaluates the rule over every replica's counts.

Checked against what the test itself sent: an error-rate rule whose traffic (good requests and
requests refused with 400) goes only to a replica that does not lead fires exactly once for the
cluster, on the leader, and the rate and request count it saw equal the test's own count of
requests and failures (exact; the rule's `for` hold lets every replica's counts arrive first).
"""
from __future__ import annotations

import json
import os
import time

import numpy as np

from test_postgres_monitoring import query
from test_postgres_replicas import pg, pytestmark, setup_registry  # noqa: F401  (the fixture and the skip mark)
from test_registry_cli import IN, NAME
from test_registry_server import Server, infer


def test_error_rate_rule_sees_the_traffic_of_a_replica_that_does_not_lead(pg, tmp_path):
    url, data = setup_registry(pg, tmp_path, 1)
    rules = tmp_path / "rules.yaml"
    rules.write_text(f"rules:\n  - name: errors\n    model: {NAME}\n    when: error_rate > 0.2\n    min_samples: 20\n"
                     "    for: 2s\n    window: 120s\n    actions: [log]\n")
    servers = []
    try:
        for i in range(3):
            os.environ["BERTH_REPLICA_ID"] = f"e{i}"
            try:
                servers.append(Server(data, tmp_path / f"e{i}.log", "--registry-url", url, "--alert-rules", str(rules),
                                      "--alert-interval-ms", "200"))
            finally:
                del os.environ["BERTH_REPLICA_ID"]
        # The leader writes the rule's state at every evaluation; the database names it.
        deadline, leader = time.time() + 10, ""
        while time.time() < deadline and not leader:
            leader = query(url, "SELECT replica FROM alert_state WHERE rule = 'errors'")
            time.sleep(0.1)
        assert leader in {"e0", "e1", "e2"}, leader
        follower = next(s for i, s in enumerate(servers) if f"e{i}" != leader)

        rng = np.random.default_rng(16)
        sent = failed = 0
        for k in range(45):
            bad = k % 3 == 0
            x = rng.normal(size=(2, IN + 1 if bad else IN)).astype(np.float32)
            status, *_ = infer(follower, x)
            assert status == (400 if bad else 200), status
            sent += 1
            failed += bad

        deadline, fired = time.time() + 15, []
        while time.time() < deadline and not fired:
            fired = [e for e in follower.api("GET", "/alerts")["history"] if e["transition"] == "fired"]
            time.sleep(0.2)
        print(f"sent {sent}, failed {failed}; the rule fired with {fired}")
        assert len(fired) == 1, fired
        event = fired[0]
        assert event["replica"] == leader
        assert event["samples"] == sent
        assert abs(event["value"] - failed / sent) <= 1e-12, (event["value"], failed / sent)
        time.sleep(1.0)
        # Once for the cluster: one firing in the database, and every replica shows the same state.
        assert query(url, "SELECT COUNT(*) FROM alert_event WHERE rule = 'errors' AND transition = 'fired'") == "1"
        for s in servers:
            st = s.api("GET", "/alerts")["alerts"][0]["status"]
            assert st["state"] == "firing" and st["fired"] == 1 and st["samples"] == sent, st
    finally:
        for s in servers:
            s.stop()
