"""Seeded model mutation: broken models must be refused with a message, never crash berth.

With a fixed seed, the example models (examples/*.onnx) and the small generated ones
(scripts/make_examples.py's MLP and CNN, the CNN also with external data) are mutated at the
protobuf level with `onnx`: huge dims (2^31, 2^62, Int64.max) on initializers, inputs and
Constant tensors, negative dims, short and long raw_data, wrong data types, external data with
bad lengths and offsets, dangling node inputs, missing graph outputs, bogus opsets, absurd
attribute and shape values; plus byte flips and truncations of the serialized file.

Every mutant goes through `berth inspect` and `berth run --random`: neither may die by a signal,
each must exit 0 or 2 (2: bad input) and print an error when it fails. Then all of them sit in
one model repository next to the good digits model, served by one `berth serve` (model control
none): the server must come up, keep serving the good model, list every mutant in the repository
index with a reason when it failed, and still be alive at the end.

The binary is $BERTH_BIN, else .build/release/berth, else .build/debug/berth.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import berth_path
import berthpy
from onnx import TensorProto, helper, numpy_helper

SEED = 20260611
REPO_ROOT = berthpy.REPO_ROOT
HUGE = [1 << 31, 1 << 62, (1 << 63) - 1]
NEGATIVE = [-1, -(1 << 31), -(1 << 63)]
INTS = HUGE + NEGATIVE + [0]
CLI_TIMEOUT = 60


def _base_models(tmp: Path) -> dict[str, tuple[onnx.ModelProto, Path | None]]:
    """name -> (model, folder holding its external data or None)."""
    mk = berthpy.load_script("make_examples")
    models = {p.stem: (onnx.load(str(p)), None) for p in sorted((REPO_ROOT / "examples").glob("*.onnx"))}
    models["mlp"] = (mk.make_mlp_model(), None)
    cnn = mk.make_cnn_model()
    models["cnn"] = (cnn, None)
    # The CNN again with its weights as external data, so length/offset mutations have a target.
    ext_dir = tmp / "external"
    ext_dir.mkdir()
    ext = onnx.ModelProto()
    ext.CopyFrom(cnn)  # save_model moves the weights of the proto it is given out to the file
    onnx.save_model(ext, str(ext_dir / "cnn_ext.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="cnn_ext.onnx.data", size_threshold=0)
    models["cnn_ext"] = (onnx.load(str(ext_dir / "cnn_ext.onnx"), load_external_data=False), ext_dir)
    return models


def _raw(t: TensorProto) -> None:
    """Moves a tensor's typed values into raw_data (so raw_data mutations apply)."""
    if t.data_location == TensorProto.EXTERNAL or t.raw_data or t.data_type == TensorProto.STRING:
        return
    arr = numpy_helper.to_array(t)
    t.ClearField("float_data"); t.ClearField("int32_data"); t.ClearField("int64_data")
    t.ClearField("double_data"); t.ClearField("uint64_data")
    t.raw_data = arr.tobytes()


def _all_initializers(m: onnx.ModelProto) -> list[TensorProto]:
    return list(m.graph.initializer)


def _huge_constant(m: onnx.ModelProto, rng: random.Random) -> str:
    dims = rng.choice([[1 << 31, 1 << 31], [1 << 62], [(1 << 63) - 1, 2], [-3, 4]])
    t = helper.make_tensor("c_huge", TensorProto.FLOAT, [1], [1.0])
    del t.dims[:]
    t.dims.extend(dims)
    node = helper.make_node("Constant", [], ["c_huge_out"], value=t)
    m.graph.node.insert(0, node)
    return f"Constant dims {dims}"


def _mutate(m: onnx.ModelProto, kind: str, rng: random.Random) -> str:
    """Applies one mutation of `kind` in place; returns what it did."""
    g = m.graph
    inits = [t for t in _all_initializers(m) if len(t.dims) > 0]
    if kind == "huge_dim" and inits:
        t = rng.choice(inits)
        i = rng.randrange(len(t.dims))
        t.dims[i] = rng.choice(HUGE)
        return f"{t.name} dims -> {list(t.dims)}"
    if kind == "huge_dims" and inits:
        t = rng.choice(inits)
        del t.dims[:]
        t.dims.extend(rng.choice([[1 << 31, 1 << 31], [1 << 62, 4], [(1 << 63) - 1, (1 << 63) - 1]]))
        return f"{t.name} dims -> {list(t.dims)}"
    if kind == "negative_dim" and inits:
        t = rng.choice(inits)
        t.dims[rng.randrange(len(t.dims))] = rng.choice(NEGATIVE)
        return f"{t.name} dims -> {list(t.dims)}"
    if kind in ("short_raw", "long_raw") and inits:
        t = rng.choice([t for t in inits if t.data_location != TensorProto.EXTERNAL] or inits)
        _raw(t)
        if t.data_location == TensorProto.EXTERNAL:
            return "external tensor left alone"
        n = rng.choice([1, 3, 4, 1000])
        t.raw_data = t.raw_data[:-n] if kind == "short_raw" else t.raw_data + bytes(n)
        return f"{t.name} raw_data {len(t.raw_data)} bytes"
    if kind == "wrong_data_type" and inits:
        t = rng.choice(inits)
        t.data_type = rng.choice([0, 8, 16, 17, 23, 99, -5, TensorProto.INT64, TensorProto.BOOL, TensorProto.DOUBLE])
        return f"{t.name} data_type -> {t.data_type}"
    if kind == "external" and inits and any(t.data_location == TensorProto.EXTERNAL for t in inits):
        t = rng.choice([t for t in inits if t.data_location == TensorProto.EXTERNAL])
        entries = {e.key: e for e in t.external_data}
        key = rng.choice(["length", "offset", "location", "dims"])
        if key == "dims":
            t.dims[0] = rng.choice(HUGE + [t.dims[0] + 1])
            return f"{t.name} external dims -> {list(t.dims)}"
        value = rng.choice({"length": ["0", "1", "99999999999", "-1", "x"], "offset": ["3", "99999999999", "-8", "y"],
                            "location": ["missing.bin", "../../etc/passwd", "/etc/passwd", ""]}[key])
        if key in entries:
            entries[key].value = value
        else:
            e = t.external_data.add()
            e.key, e.value = key, value
        return f"{t.name} external {key} -> {value}"
    if kind == "dangling_input" and g.node:
        n = rng.choice(g.node)
        if n.input:
            n.input[rng.randrange(len(n.input))] = f"nowhere_{rng.randrange(100)}"
        else:
            n.input.append("nowhere")
        return f"node {n.name or n.op_type} reads a value nobody makes"
    if kind == "missing_outputs":
        if rng.random() < 0.5:
            del g.output[:]
            return "no graph outputs"
        g.output[0].name = "never_produced"
        return "graph output never produced"
    if kind == "bogus_opset":
        choice = rng.choice(["default99", "default0", "defaultneg", "ml99", "unknown", "huge"])
        if choice == "unknown":
            m.opset_import.add(domain="com.bogus", version=1)
        else:
            domain = "ai.onnx.ml" if choice == "ml99" else ""
            version = {"default99": 99, "default0": 0, "defaultneg": -1, "ml99": 99, "huge": 1 << 40}[choice]
            for o in m.opset_import:
                if o.domain == domain or (domain == "" and o.domain == "ai.onnx"):
                    o.version = version
                    break
            else:
                m.opset_import.add(domain=domain, version=version)
        return f"opset {choice}"
    if kind == "huge_input":
        inp = g.input[0]
        dims = inp.type.tensor_type.shape.dim
        for d in dims:
            d.dim_value = rng.choice(HUGE + [-1])
        return f"input {inp.name} dims -> {[d.dim_value for d in dims]}"
    if kind == "huge_constant":
        return _huge_constant(m, rng)
    if kind == "attribute" and g.node:
        nodes = [n for n in g.node if any(a.type in (onnx.AttributeProto.INT, onnx.AttributeProto.INTS) for a in n.attribute)]
        if nodes:
            n = rng.choice(nodes)
            a = rng.choice([a for a in n.attribute if a.type in (onnx.AttributeProto.INT, onnx.AttributeProto.INTS)])
            if a.type == onnx.AttributeProto.INT:
                a.i = rng.choice(INTS)
            else:
                vals = list(a.ints) or [1]
                vals[rng.randrange(len(vals))] = rng.choice(INTS)
                del a.ints[:]
                a.ints.extend(vals)
            return f"node {n.name or n.op_type} attribute {a.name} -> {a.i if a.type == onnx.AttributeProto.INT else list(a.ints)}"
    if kind == "int_values":
        ints = [t for t in _all_initializers(m) if t.data_type == TensorProto.INT64 and t.data_location != TensorProto.EXTERNAL]
        if ints:
            t = rng.choice(ints)
            arr = numpy_helper.to_array(t).copy()
            if arr.size:
                arr.flat[rng.randrange(arr.size)] = rng.choice(INTS)
                t.CopyFrom(numpy_helper.from_array(arr, t.name))
                return f"{t.name} values -> {arr.tolist()[:8]}"
    if kind == "folded_generator":
        # A shape-making op on constants: constant folding runs it at load.
        op = rng.choice(["ConstantOfShape", "Expand", "Tile", "Range"])
        value = rng.choice([[1 << 31], [1 << 62], [(1 << 63) - 1], [-1, 4], [1 << 20, 1 << 20], [1 << 31, 1 << 31]])
        k = len(g.node)
        arg = numpy_helper.from_array(np.array(value, dtype=np.int64), f"gen_arg_{k}")
        one = numpy_helper.from_array(np.ones([1] * len(value), dtype=np.float32), f"gen_one_{k}")
        g.initializer.extend([arg, one])
        if op == "ConstantOfShape":
            node = helper.make_node(op, [arg.name], [f"gen_out_{k}"])
        elif op == "Range":
            zero = numpy_helper.from_array(np.array(0, dtype=np.int64), f"gen_zero_{k}")
            limit = numpy_helper.from_array(np.array(value[0], dtype=np.int64), f"gen_limit_{k}")
            step = numpy_helper.from_array(np.array(1, dtype=np.int64), f"gen_step_{k}")
            g.initializer.extend([zero, limit, step])
            node = helper.make_node(op, [zero.name, limit.name, step.name], [f"gen_out_{k}"])
        else:
            node = helper.make_node(op, [one.name, arg.name], [f"gen_out_{k}"])
        g.node.append(node)
        # Keep its output alive: a graph output nobody may fold away.
        g.output.append(helper.make_empty_tensor_value_info(f"gen_out_{k}"))
        return f"{op} of {value}"
    # Nothing to mutate of that kind in this model: a huge Constant instead.
    return _huge_constant(m, rng)


STRUCTURED = ["huge_dim", "huge_dims", "negative_dim", "short_raw", "long_raw", "wrong_data_type", "external",
              "dangling_input", "missing_outputs", "bogus_opset", "huge_input", "huge_constant", "attribute", "int_values",
              "folded_generator"]


def _byte_mutant(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    b = bytearray(data)
    how = rng.choice(["truncate", "flip", "splat"])
    if how == "truncate":
        n = rng.randrange(len(b))
        return bytes(b[:n]), f"truncated to {n} bytes"
    if how == "flip":
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        return bytes(b), "bit flips"
    at = rng.randrange(len(b))
    b[at:at + 8] = bytes(rng.randrange(256) for _ in range(8))
    return bytes(b), f"8 random bytes at {at}"


def _make_mutants(tmp: Path) -> list[tuple[Path, str]]:
    rng = random.Random(SEED)
    bases = _base_models(tmp)
    out_dir = tmp / "mutants"
    out_dir.mkdir()
    mutants: list[tuple[Path, str]] = []
    # External data lives next to the model; mutants of cnn_ext share one folder with the data file.
    ext_out = tmp / "mutants_ext"
    ext_out.mkdir()
    shutil.copy(bases["cnn_ext"][1] / "cnn_ext.onnx.data", ext_out / "cnn_ext.onnx.data")
    names = sorted(bases)
    for i in range(112):
        base = names[i % len(names)]
        model, ext = bases[base]
        m = onnx.ModelProto()
        m.CopyFrom(model)
        kind = STRUCTURED[(i // len(names)) % len(STRUCTURED)] if i % 8 else rng.choice(STRUCTURED)
        what = _mutate(m, kind, rng)
        folder = ext_out if ext else out_dir
        path = folder / f"m{i:03d}_{base}_{kind}.onnx"
        path.write_bytes(m.SerializeToString())
        mutants.append((path, f"{base}: {kind}: {what}"))
    for i in range(24):
        base = names[i % len(names)]
        if bases[base][1]:
            base = "digits_mlp"
        data, what = _byte_mutant(bases[base][0].SerializeToString(), rng)
        path = out_dir / f"b{i:03d}_{base}.onnx"
        path.write_bytes(data)
        mutants.append((path, f"{base}: bytes: {what}"))
    return mutants


def _check_cli(args: list[str], what: str) -> tuple[str, int]:
    try:
        p = subprocess.run(args, capture_output=True, text=True, timeout=CLI_TIMEOUT)
    except subprocess.TimeoutExpired:
        return f"{what}: {' '.join(args[1:3])} timed out after {CLI_TIMEOUT} s", -999
    cmd = " ".join(args[1:2])
    if p.returncode < 0 or p.returncode >= 128:
        return f"{what}: berth {cmd} died (exit {p.returncode}):\n{p.stderr[-2000:]}", p.returncode
    if p.returncode not in (0, 2):
        return f"{what}: berth {cmd} exited {p.returncode}, want 0 or 2 (bad input):\n{p.stderr[-500:]}", p.returncode
    if p.returncode == 2 and not p.stderr.strip():
        return f"{what}: berth {cmd} failed without a message", p.returncode
    return "", p.returncode


@pytest.fixture(scope="module")
def mutants(tmp_path_factory) -> list[tuple[Path, str]]:
    return _make_mutants(tmp_path_factory.mktemp("fuzz"))


def test_cli_refuses_mutants_without_crashing(berth_bin, mutants):
    assert 100 <= len(mutants) <= 150
    jobs = []
    for path, what in mutants:
        jobs.append(([str(berth_bin), "inspect", str(path)], f"{path.name} ({what})"))
        jobs.append(([str(berth_bin), "run", str(path), "--random", "--threads", "1"], f"{path.name} ({what})"))
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        results = list(pool.map(lambda j: _check_cli(*j), jobs))
    problems = [msg for msg, _ in results if msg]
    refused = sum(1 for _, code in results if code == 2)
    assert not problems, f"{len(problems)} of {len(jobs)} runs went wrong:\n" + "\n".join(problems[:20])
    # The mutator must actually break models: most runs are refusals.
    assert refused > len(jobs) // 2, f"only {refused} of {len(jobs)} runs were refused"


def test_server_survives_a_repository_of_mutants(berth_bin, mutants, tmp_path):
    repo = tmp_path / "repo"
    for path, _ in mutants:
        version = repo / path.stem / "1"
        version.mkdir(parents=True)
        shutil.copy(path, version / "model.onnx")
        data = path.parent / "cnn_ext.onnx.data"
        if "cnn_ext" in path.name and data.exists():
            shutil.copy(data, version / "cnn_ext.onnx.data")
    good = repo / "good" / "1"
    good.mkdir(parents=True)
    shutil.copy(REPO_ROOT / "examples" / "digits_mlp.onnx", good / "model.onnx")
    port = berthpy.free_port()
    log_path = tmp_path / "serve.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([str(berth_bin), "serve", "--insecure-no-auth", "--model-repository", str(repo), "--port", str(port),
                                 "--model-control", "none", "--threads", "1",
                                 # Mutants fail on purpose; strict readiness (the default) would keep the server not ready.
                                 "--strict-readiness", "false"], stdout=log, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.time() + 120
            ready = False
            while time.time() < deadline and proc.poll() is None:
                try:
                    ready = berthpy.http_json("GET", f"{url}/v2/health/ready")[0] == 200
                except OSError:
                    pass
                if ready:
                    break
                time.sleep(0.2)
            assert proc.poll() is None, f"berth serve died (exit {proc.returncode}):\n{log_path.read_text()[-3000:]}"
            assert ready, "berth serve did not become ready:\n" + log_path.read_text()[-3000:]
            status, index = berthpy.http_json("POST", f"{url}/v2/repository/index", {})
            assert status == 200, index
            states = {e["name"]: e for e in index}
            assert states.get("good", {}).get("state") == "READY", states.get("good")
            missing = [p.stem for p, _ in mutants if p.stem not in states]
            assert not missing, f"mutants missing from the repository index: {missing[:10]}"
            failed = [e for e in index if e.get("state") != "READY"]
            assert failed, "no mutant failed to load"
            assert all(e.get("reason") for e in failed), [e for e in failed if not e.get("reason")][:5]
            x = np.load(REPO_ROOT / "examples" / "digits_sample.npy")[:1].astype(np.float32)
            body = {"inputs": [{"name": "input", "shape": list(x.shape), "datatype": "FP32", "data": x.ravel().tolist()}]}
            status, answer = berthpy.http_json("POST", f"{url}/v2/models/good/infer", body)
            assert status == 200, answer
            assert proc.poll() is None, f"berth serve died:\n{log_path.read_text()[-3000:]}"
        finally:
            berthpy.stop_process(proc)
    assert proc.returncode is not None and proc.returncode >= 0 and proc.returncode < 128, \
        f"berth serve ended by a signal (exit {proc.returncode}):\n{log_path.read_text()[-3000:]}"
