"""deploy/grafana/berth.json: valid Grafana dashboard JSON whose every query names metrics that
docs/metrics.md documents (so a renamed metric cannot leave a silently empty panel)."""
from __future__ import annotations

import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_grafana_queries_name_documented_metrics():
    dash = json.loads((REPO / "deploy/grafana/berth.json").read_text())
    assert dash["panels"] and dash["uid"]
    documented = set(re.findall(r"`((?:berth|process)_[a-z0-9_]+)`", (REPO / "docs/metrics.md").read_text()))
    seen = set()
    ids = set()
    for p in dash["panels"]:
        assert p["id"] not in ids and p["title"] and p["targets"], p
        ids.add(p["id"])
        for t in p["targets"]:
            for name in re.findall(r"\b((?:berth|process)_[a-z0-9_]+)", t["expr"]):
                base = re.sub(r"_(bucket|sum|count)$", "", name)
                assert base in documented, f"panel '{p['title']}' queries {name}, which docs/metrics.md does not document"
                seen.add(base)
            assert t["expr"].count("(") == t["expr"].count(")"), t["expr"]
    assert {"berth_inference_requests_total", "berth_live_accuracy", "berth_drift_share", "berth_alert_firing"} <= seen
