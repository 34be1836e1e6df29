"""End-to-end tests of `berth registry` (docs/registry.md), each on its own --data-dir under tmp_path.

Versions are tiny linear models y = x·W_k + b_k (x: FP32 [-1, 4], y: FP32 [-1, 3]) whose weights
depend on the version k, so every artifact is distinct. Checked: records (sha256, size, signature,
metrics, lineage, tags), aliases, gated promotion, repeated rollback, the append-only history (also
against SQLite directly), delete rules, pull, bad input (exit 2, a message, nothing written), and a
push killed with SIGKILL at random moments (whole version or nothing, no stray files).
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import sqlite3
import subprocess
import time
from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import berth_path
from onnx import TensorProto, helper, numpy_helper

NAME = "digits"
IN, OUT = 4, 3


def weights(version: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7000 + version)
    return rng.standard_normal((IN, OUT)).astype(np.float32), rng.standard_normal(OUT).astype(np.float32)


def model_bytes(version: int, *, in_name: str = "x", width: int = IN, pad_mb: int = 0) -> bytes:
    """y = in·W + b; `pad_mb` adds an unused UINT8 initializer of that many MiB (a big file)."""
    w, b = weights(version)
    if width != IN:
        w = np.random.default_rng(version).standard_normal((width, OUT)).astype(np.float32)
    inits = [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")]
    if pad_mb:
        pad = np.random.default_rng(version).integers(0, 256, size=pad_mb << 20, dtype=np.uint8)
        inits.append(numpy_helper.from_array(pad, "pad"))
    graph = helper.make_graph(
        [helper.make_node("MatMul", [in_name, "w"], ["m"]), helper.make_node("Add", ["m", "b"], ["y"])],
        f"linear_v{version}",
        [helper.make_tensor_value_info(in_name, TensorProto.FLOAT, ["N", width])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", OUT])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="berth-tests")
    model.ir_version = 8
    if not pad_mb:
        onnx.checker.check_model(model)
    return model.SerializeToString()


def write_model(path: Path, version: int, **kw) -> Path:
    path.write_bytes(model_bytes(version, **kw))
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run(data: Path, *args: str, user: str = "ci-user", timeout: float = 120) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "BERTH_DATA_DIR"}
    env["USER"] = user
    return subprocess.run([str(berth_path()), "registry", *args, "--data-dir", str(data)],
                          capture_output=True, text=True, timeout=timeout, env=env)


def ok(data: Path, *args: str, **kw) -> str:
    p = run(data, *args, **kw)
    assert p.returncode == 0, f"berth registry {' '.join(args)} -> exit {p.returncode}\n{p.stderr}{p.stdout}"
    return p.stdout


def js(data: Path, *args: str):
    return json.loads(ok(data, *args, "--json"))


def push(data: Path, model: Path, *extra: str, name: str = NAME) -> int:
    """Pushes and returns the new version number (from --json: a Version object or a bare number)."""
    doc = js(data, "push", name, str(model), *extra)
    return int(doc["version"] if isinstance(doc, dict) else doc)


def models(data: Path) -> list[dict]:
    doc = js(data, "list")
    return doc["models"] if isinstance(doc, dict) else doc


def versions(data: Path, name: str = NAME) -> list[dict]:
    return js(data, "show", name)["versions"]


def aliases(data: Path, name: str = NAME) -> dict:
    doc = js(data, "show", name)
    return doc.get("model", doc)["aliases"]


def events(data: Path, *extra: str, name: str = NAME) -> list[dict]:
    doc = js(data, "history", name, *extra)
    return doc["events"] if isinstance(doc, dict) else doc


def files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()} if folder.exists() else set()


def artifact_stems(data: Path) -> set[str]:
    return {Path(f).name.split(".")[0] for f in files(data / "artifacts")}


def test_push_show_list_records_everything(tmp_path):
    data = tmp_path / "data"
    m1, m2 = write_model(tmp_path / "m1.onnx", 1), write_model(tmp_path / "m2.onnx", 2)
    (tmp_path / "eval.json").write_text(json.dumps({"metrics": {"accuracy": 0.93, "f1": 0.9}, "rows": 10}))
    train = tmp_path / "train.csv"
    train.write_bytes(os.urandom(4096))
    assert push(data, m1, "--by", "ana", "--description", "digit classifier") == 1
    assert push(data, m2, "--metrics", str(tmp_path / "eval.json"), "--tag", "team=ml", "--tag", "stage=exp",
                "--param", "C=1.0", "--param", "solver=lbfgs", "--parent", "1", "--training-data", str(train),
                "--by", "bob", "--reason", "retrained") == 2

    v1, v2 = js(data, "show", f"{NAME}@1"), js(data, "show", f"{NAME}@2")
    for v, m in ((v1, m1), (v2, m2)):
        assert v["sha256"] == sha256(m) and v["size"] == m.stat().st_size
        assert v["signature"] == {"inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, IN]}],
                                  "outputs": [{"name": "y", "datatype": "FP32", "shape": [-1, OUT]}]}
        assert (v["model"], v["aliases"]) == (NAME, [])
        # content-addressed store: the artifact is named by its SHA-256 and holds the pushed bytes
        [art] = [p for p in (data / "artifacts").rglob(f"{v['sha256']}*") if p.is_file()]
        assert art.read_bytes() == m.read_bytes()
    assert v1["created_by"] == "ana" and v2["created_by"] == "bob"
    assert v2["metrics"] == {"accuracy": 0.93, "f1": 0.9}
    assert v2["tags"] == {"team": "ml", "stage": "exp"} and v2["params"] == {"C": "1.0", "solver": "lbfgs"}
    assert v2["parent"] == 1 and v1.get("parent") is None  # null fields are omitted
    assert v2["training_data_digest"] == sha256(train)
    assert artifact_stems(data) == {v1["sha256"], v2["sha256"]}

    # --training-data-digest HEX is recorded as given; --by defaults to $USER
    digest = hashlib.sha256(b"some data set").hexdigest()
    m3 = write_model(tmp_path / "m3.onnx", 3)
    assert push(data, m3, "--training-data-digest", digest) == 3
    v3 = js(data, "show", f"{NAME}@3")
    assert v3["training_data_digest"] == digest and v3["created_by"] == "ci-user"

    ok(data, "promote", NAME, "2", "--by", "ana")
    assert js(data, "show", f"{NAME}@production") == {**v2, "aliases": ["production"]}
    shown = js(data, "show", NAME)
    model = shown.get("model", shown)  # the binary nests the Model under "model", beside "versions"
    assert [v["version"] for v in shown["versions"]] == [1, 2, 3]
    assert model["aliases"] == {"production": 2} and model["latest_version"] == 3
    assert model["description"] == "digit classifier"
    [listed] = models(data)
    assert (listed["name"], listed["latest_version"], listed["aliases"]) == (NAME, 3, {"production": 2})
    assert NAME in ok(data, "list") and "production" in ok(data, "list")
    # $BERTH_DATA_DIR is the default data dir
    env = {**os.environ, "BERTH_DATA_DIR": str(data)}
    p = subprocess.run([str(berth_path()), "registry", "list", "--json"], capture_output=True, text=True,
                       env=env, cwd=tmp_path, timeout=60)
    assert p.returncode == 0 and NAME in p.stdout, p.stderr


def test_promote_gates(tmp_path):
    data = tmp_path / "data"
    for k, acc in ((1, 0.8), (2, 0.95)):
        (tmp_path / f"e{k}.json").write_text(json.dumps({"metrics": {"accuracy": acc}}))
        push(data, write_model(tmp_path / f"m{k}.onnx", k), "--metrics", str(tmp_path / f"e{k}.json"))
    ok(data, "promote", NAME, "2", "--gate", "accuracy>=0.9")
    before = events(data)
    p = run(data, "promote", NAME, "1", "--gate", "accuracy>=0.9")
    assert p.returncode == 1 and "accuracy" in p.stderr, (p.returncode, p.stderr)
    assert aliases(data) == {"production": 2}
    assert events(data) == before, "a refused promotion changes nothing"
    p = run(data, "promote", NAME, "1", "--gate", "accuracy>=0.5", "--gate", "f1>=0.5")  # f1 missing: refused
    assert p.returncode == 1 and "f1" in p.stderr, (p.returncode, p.stderr)
    ok(data, "promote", NAME, "1", "--gate", "accuracy>=0.5", "--alias", "staging")
    assert aliases(data) == {"production": 2, "staging": 1}


def test_rollback_walks_back_and_history_is_append_only(tmp_path):
    data = tmp_path / "data"
    for k in (1, 2, 3):
        push(data, write_model(tmp_path / f"m{k}.onnx", k), "--by", "alice")
    for k in (1, 2, 3):
        ok(data, "promote", NAME, str(k), "--by", "bob", "--reason", f"ship {k}")
    ok(data, "alias", NAME, "staging", "3", "--by", "dan")
    early = events(data)
    ok(data, "rollback", NAME, "--by", "carol", "--reason", "latency")
    assert js(data, "show", f"{NAME}@production")["version"] == 2
    ok(data, "rollback", NAME, "--by", "carol", "--reason", "still bad")
    assert js(data, "show", f"{NAME}@production")["version"] == 1
    full = events(data)
    p = run(data, "rollback", NAME, "--by", "carol")
    assert p.returncode == 2 and p.stderr.strip(), (p.returncode, p.stderr)
    assert aliases(data) == {"production": 1, "staging": 3}
    assert events(data) == full

    assert full[:len(early)] == early, "history only grows"
    got = [(e["action"], e.get("alias"), e.get("from"), e.get("to"), e["actor"], e["reason"]) for e in full[3:]]
    assert got == [("promote", "production", None, 1, "bob", "ship 1"), ("promote", "production", 1, 2, "bob", "ship 2"),
                   ("promote", "production", 2, 3, "bob", "ship 3"), ("alias", "staging", None, 3, "dan", got[3][5]),
                   ("rollback", "production", 3, 2, "carol", "latency"),
                   ("rollback", "production", 2, 1, "carol", "still bad")]
    assert [(e["action"], e["actor"], e["to"]) for e in full[:3]] == [("push", "alice", k) for k in (1, 2, 3)]
    assert all(e["model"] == NAME and e["at"] for e in full)
    ids = [e["id"] for e in full]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert [e["at"] for e in full] == sorted(e["at"] for e in full)
    prod = events(data, "--alias", "production")
    assert prod == [e for e in full if e.get("alias") == "production"] and len(prod) == 5
    text = ok(data, "history", NAME)
    assert "rollback" in text and "carol" in text and "latency" in text


def test_alias_pull_and_verification(tmp_path):
    data = tmp_path / "data"
    ms = [write_model(tmp_path / f"m{k}.onnx", k) for k in (1, 2)]
    for m in ms:
        push(data, m)
    ok(data, "promote", NAME, "1")
    ok(data, "alias", NAME, "candidate", "2")
    assert js(data, "show", f"{NAME}@candidate")["version"] == 2
    for ref, want in ((f"{NAME}@1", ms[0]), (f"{NAME}@2", ms[1]), (f"{NAME}@candidate", ms[1]),
                      (f"{NAME}@production", ms[0]), (NAME, ms[0])):
        out = tmp_path / "pulled.onnx"
        out.unlink(missing_ok=True)
        ok(data, "pull", ref, str(out))
        assert out.read_bytes() == want.read_bytes(), ref
    ok(data, "alias", NAME, "candidate", "--remove")
    assert aliases(data) == {"production": 1}
    p = run(data, "show", f"{NAME}@candidate")
    assert p.returncode == 2 and "candidate" in p.stderr
    assert [e["action"] for e in events(data)][-1] == "unalias"
    # A corrupted artifact is never handed out.
    art = next(p for p in (data / "artifacts").rglob(f"{sha256(ms[1])}*") if p.is_file())
    raw = bytearray(art.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    os.chmod(art, 0o644)
    art.write_bytes(bytes(raw))
    out = tmp_path / "corrupt.onnx"
    p = run(data, "pull", f"{NAME}@2", str(out))
    assert p.returncode != 0 and p.stderr.strip(), (p.returncode, p.stderr)
    assert not out.exists(), "a failed verification writes nothing"


def test_delete_rules_and_numbers_never_reused(tmp_path):
    data = tmp_path / "data"
    ms = [write_model(tmp_path / f"m{k}.onnx", k) for k in (1, 2, 3, 4)]
    for m in ms[:3]:
        push(data, m)
    ok(data, "promote", NAME, "2")
    before = (versions(data), events(data), files(data / "artifacts"))
    p = run(data, "delete", NAME, "2")
    assert p.returncode == 2 and "production" in p.stderr, (p.returncode, p.stderr)
    assert (versions(data), events(data), files(data / "artifacts")) == before
    ok(data, "delete", NAME, "3", "--by", "eve", "--reason", "bad run")
    assert [v["version"] for v in versions(data)] == [1, 2]
    assert sha256(ms[2]) not in artifact_stems(data), "the deleted version's artifact is gone"
    assert run(data, "show", f"{NAME}@3").returncode == 2
    last = events(data)[-1]
    assert (last["action"], last["actor"], last["reason"]) == ("delete", "eve", "bad run")
    assert push(data, ms[3]) == 4, "version 3 is never reused"
    # Two versions with the same bytes share one artifact; deleting one keeps the other's.
    assert push(data, ms[3]) == 5
    ok(data, "delete", NAME, "5")
    ok(data, "delete", NAME, "1")
    assert [v["version"] for v in versions(data)] == [2, 4]
    assert artifact_stems(data) == {sha256(ms[1]), sha256(ms[3])}
    out = tmp_path / "v4.onnx"
    ok(data, "pull", f"{NAME}@4", str(out))
    assert out.read_bytes() == ms[3].read_bytes()
    assert push(data, ms[0]) == 6


def snapshot(data: Path):
    return (models(data), js(data, "show", NAME), events(data), files(data / "artifacts"), files(data / "tmp"))


def expect_bad(data: Path, args: list[str], mentions: tuple[str, ...], code: int = 2) -> None:
    before = snapshot(data)
    p = run(data, *args)
    assert p.returncode == code, f"berth registry {' '.join(args)} -> exit {p.returncode}\n{p.stderr}{p.stdout}"
    assert any(m.lower() in p.stderr.lower() for m in mentions), f"stderr names none of {mentions}: {p.stderr!r}"
    assert snapshot(data) == before, f"berth registry {' '.join(args)} changed the registry"


def test_bad_input_exits_2_and_writes_nothing(tmp_path):
    data = tmp_path / "data"
    good = model_bytes(1)
    push(data, write_model(tmp_path / "m1.onnx", 1))
    push(data, write_model(tmp_path / "m2.onnx", 2))
    ok(data, "promote", NAME, "1")
    bad = {"random.onnx": os.urandom(5000), "empty.onnx": b"", "truncated.onnx": good[:len(good) // 2],
           "text.onnx": b"hello, I am not a model\n"}
    for fname, content in bad.items():
        (tmp_path / fname).write_bytes(content)
        expect_bad(data, ["push", NAME, str(tmp_path / fname)], ("onnx", fname))
        expect_bad(data, ["push", "fresh-model", str(tmp_path / fname)], ("onnx", fname))
    expect_bad(data, ["push", NAME, str(tmp_path / "missing.onnx")], ("missing.onnx",))
    expect_bad(data, ["push", "bad/name", str(tmp_path / "m2.onnx")], ("bad/name", "name"))
    for args in (["show", "nosuch"], ["show", "nosuch@1"], ["promote", "nosuch", "1"], ["rollback", "nosuch"],
                 ["history", "nosuch"], ["delete", "nosuch", "1"], ["alias", "nosuch", "staging", "1"],
                 ["pull", "nosuch", str(tmp_path / "o.onnx")]):
        expect_bad(data, args, ("nosuch",))
    for args in (["show", f"{NAME}@99"], ["promote", NAME, "99"], ["alias", NAME, "staging", "99"],
                 ["delete", NAME, "99"], ["pull", f"{NAME}@99", str(tmp_path / "o.onnx")]):
        expect_bad(data, args, ("99",))
    for args in (["show", f"{NAME}@nosuchalias"], ["pull", f"{NAME}@nosuchalias", str(tmp_path / "o.onnx")],
                 ["rollback", NAME, "--alias", "nosuchalias"], ["alias", NAME, "nosuchalias", "--remove"]):
        expect_bad(data, args, ("nosuchalias",))
    expect_bad(data, ["alias", NAME, "1bad", "2"], ("1bad",))
    assert not (tmp_path / "o.onnx").exists()

    # Signature changes: compared with production (v1), refused unless allowed.
    renamed = write_model(tmp_path / "renamed.onnx", 3, in_name="features")
    wider = write_model(tmp_path / "wider.onnx", 4, width=IN + 2)
    for m in (renamed, wider):
        expect_bad(data, ["push", NAME, str(m)], ("signature",))
    assert push(data, renamed, "--allow-signature-change") == 3
    assert js(data, "show", f"{NAME}@3")["signature"]["inputs"][0]["name"] == "features"
    # production is still v1 (input x): its signature is the reference, not the latest version's
    assert push(data, write_model(tmp_path / "m5.onnx", 5)) == 4
    expect_bad(data, ["push", NAME, str(wider)], ("signature",))
    # with no production, the latest version is the reference
    push(data, write_model(tmp_path / "o1.onnx", 1), name="other")
    before = js(data, "show", "other")
    p = run(data, "push", "other", str(renamed))
    assert p.returncode == 2 and "signature" in p.stderr.lower() and js(data, "show", "other") == before


def test_history_table_refuses_update_and_delete(tmp_path):
    data = tmp_path / "data"
    push(data, write_model(tmp_path / "m1.onnx", 1))
    ok(data, "promote", NAME, "1", "--reason", "first")
    before = events(data)
    db = sqlite3.connect(data / "registry.sqlite", timeout=10)
    try:
        names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")
                 if ("event" in r[0].lower() or "history" in r[0].lower()) and not r[0].startswith("sqlite_")]
        tables = [t for t in names if db.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] > 0]
        assert tables, f"no non-empty history/event table among {names}"
        for t in tables:
            cols = [r[1] for r in db.execute(f'PRAGMA table_info("{t}")')]
            count = db.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]
            sets = ", ".join(f'"{c}" = "{c}"' for c in cols)
            for sql in (f'UPDATE "{t}" SET {sets}', f'DELETE FROM "{t}"'):
                with pytest.raises(sqlite3.DatabaseError):
                    db.execute(sql)
                db.rollback()
            assert db.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] == count
    finally:
        db.close()
    assert events(data) == before


def check_consistent(data: Path, tmp: Path, verified: dict[int, str]) -> list[dict]:
    """list/show succeed, every listed version is whole and its artifact verifies, no stray files."""
    assert NAME in [m["name"] for m in models(data)]
    vs = versions(data)
    for v in vs:
        n = v["version"]
        assert len(v["sha256"]) == 64 and v["size"] > 0 and v["signature"]["inputs"], f"half-listed version {v}"
        if n in verified:
            assert v["sha256"] == verified[n]
            continue
        out = tmp / f"pulled-{n}.onnx"
        ok(data, "pull", f"{NAME}@{n}", str(out))
        assert (hashlib.sha256(out.read_bytes()).hexdigest(), out.stat().st_size) == (v["sha256"], v["size"])
        out.unlink()
        verified[n] = v["sha256"]
    ok(data, "list")  # one more open after the writer is gone
    assert files(data / "tmp") == set(), "tmp/ keeps a dead writer's file"
    assert artifact_stems(data) == {v["sha256"] for v in vs}, "artifacts/ differs from the versions' files"
    return vs


def test_kill_9_during_push_leaves_whole_versions_or_nothing(tmp_path):
    data = tmp_path / "data"
    push(data, write_model(tmp_path / "small.onnx", 1))
    big = tmp_path / "big.onnx"
    write_model(big, 2, pad_mb=40)
    # The quicker of two full pushes: on a loaded machine one can take twice as long, and kills
    # timed from a slow one would land after most pushes finished.
    full = float("inf")
    for v in (2, 3):
        write_model(big, v, pad_mb=40)
        t0 = time.perf_counter()
        assert push(data, big) == v
        full = min(full, time.perf_counter() - t0)
    verified: dict[int, str] = {}
    check_consistent(data, tmp_path, verified)
    rng = random.Random(20261126)
    span = min(max(0.1, 0.9 * full), 4.0)
    delays = [span * (k + rng.random()) / 10 for k in range(10)]
    rng.shuffle(delays)
    killed, finished, stray = [], [], 0
    cmd = [str(berth_path()), "registry", "push", NAME, str(big), "--data-dir", str(data)]
    for k, delay in enumerate(delays):
        write_model(big, 10 + k, pad_mb=40)
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(delay)
        if proc.poll() is None:
            proc.kill()
            killed.append(round(delay, 3))
        out, err = proc.communicate()
        stray += bool(files(data / "tmp"))  # a dead writer's file, for the next open to clean
        if proc.returncode >= 0:
            assert proc.returncode == 0, err.decode()
            finished.append(sha256(big))
        vs = check_consistent(data, tmp_path, verified)
        assert set(finished) <= {v["sha256"] for v in vs}, "a push that reported success is listed"
    print(f"full push {full:.2f}s; killed at {sorted(killed)}; {len(finished)} pushes finished; "
          f"versions {[v['version'] for v in versions(data)]}; {stray} kills left a file in tmp/")
    assert len(killed) >= 5, "most pushes were killed mid-way"
    write_model(big, 99, pad_mb=40)
    n = push(data, big)  # the registry still takes a push after all that
    assert js(data, "show", f"{NAME}@{n}")["sha256"] == sha256(big)
    check_consistent(data, tmp_path, verified)
