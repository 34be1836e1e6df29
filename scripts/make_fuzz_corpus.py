"""Writes the seed corpora of the libFuzzer harnesses (Fuzz/corpus/<harness>/), small valid and
near-valid inputs the fuzzer mutates from. Re-run when the harnesses' inputs change:
    .venv/bin/python scripts/make_fuzz_corpus.py
"""
from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parent.parent / "Fuzz" / "corpus"


def model(graph) -> bytes:
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8  # what ONNX 1.12-era exporters write; Berth reads 3...11
    return m.SerializeToString()


def onnx_seeds() -> dict[str, bytes]:
    out = {"digits_logreg.onnx": (ROOT.parent.parent / "examples" / "digits_logreg.onnx").read_bytes()}
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])
    w = numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(4, 3), "w")
    g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "mm", [x], [y], [w])
    out["matmul.onnx"] = model(g)
    # Control flow: an If with two subgraphs (attributes holding graphs).
    c = helper.make_tensor_value_info("c", TensorProto.BOOL, [])
    then_g = helper.make_graph([helper.make_node("Relu", ["x"], ["t"])], "then", [],
                               [helper.make_tensor_value_info("t", TensorProto.FLOAT, ["N", 4])])
    else_g = helper.make_graph([helper.make_node("Neg", ["x"], ["e"])], "else", [],
                               [helper.make_tensor_value_info("e", TensorProto.FLOAT, ["N", 4])])
    g = helper.make_graph([helper.make_node("If", ["c"], ["z"], then_branch=then_g, else_branch=else_g)], "if", [c, x],
                          [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["N", 4])])
    out["if.onnx"] = model(g)
    # External data (refused without a folder) and typed fields of several dtypes.
    ext = numpy_helper.from_array(np.ones(3, np.float32), "ext")
    ext.data_location = TensorProto.EXTERNAL
    ext.ClearField("raw_data")
    ext.external_data.add(key="location", value="weights.bin")
    ints = helper.make_tensor("ints", TensorProto.INT64, [2, 2], [1, 2, 3, 4])
    strs = helper.make_tensor("strs", TensorProto.STRING, [2], [b"a", b"bc"])
    g = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "init", [x], [y], [ints, strs])
    out["initializers.onnx"] = model(g)
    g = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "ext", [x], [y], [ext])
    out["external.onnx"] = model(g)
    return out


def request(inputs: list[dict], **extra) -> bytes:
    return json.dumps({"id": "r1", "inputs": inputs, **extra}).encode()


X = {"name": "x", "datatype": "FP32", "shape": [2, 4], "data": [0.5] * 8}
IDS = {"name": "ids", "datatype": "INT64", "shape": [3], "data": [1, -2, 3]}
TEXT = {"name": "text", "datatype": "BYTES", "shape": [2], "data": ["hello", "wörld"]}
MASK = {"name": "mask", "datatype": "BOOL", "shape": [2, 2], "data": [[True, False], [False, True]]}


def json_seeds() -> dict[str, bytes]:
    return {
        "all.json": request([X, IDS, TEXT, MASK], outputs=[{"name": "y", "parameters": {"binary_data": True}}]),
        "nested.json": request([{**X, "data": [[0.1, 0.2, 0.3, 0.4], [1e38, -1e-38, 0, -0.0]]}, IDS, TEXT, MASK]),
        "params.json": request([X, IDS, TEXT, MASK], parameters={"sequence_id": 7, "priority": 1, "timeout": 100}),
        "bad-shape.json": request([{**X, "shape": [2147483648, 4]}, IDS, TEXT, MASK]),
        "escapes.json": request([X, IDS, {**TEXT, "data": ["\u0000\"\\\n", "\ud83d\ude00"]}, MASK]),
    }


def binary_seeds() -> dict[str, bytes]:
    out = {}
    x = np.arange(8, dtype=np.float32).tobytes()
    ids = np.array([4, 5, 6], np.int64).tobytes()
    text = b"".join(struct.pack("<I", len(s)) + s for s in [b"ab", b"cde"])
    mask = np.array([1, 0, 0, 1], np.uint8).tobytes()
    inputs = []
    for spec, blob in [(X, x), (IDS, ids), (TEXT, text), (MASK, mask)]:
        inputs.append({k: v for k, v in spec.items() if k != "data"} | {"parameters": {"binary_data_size": len(blob)}})
    header = request(inputs)
    body = header + x + ids + text + mask
    out["all-binary.bin"] = struct.pack(">H", len(header)) + body
    # Mixed: two inputs binary, two in JSON.
    mixed = request([inputs[0], IDS, inputs[2], MASK])
    out["mixed.bin"] = struct.pack(">H", len(mixed)) + mixed + x + text
    # A declared size larger than what follows.
    big = request([{**inputs[0], "parameters": {"binary_data_size": 9223372036854775807}}, IDS, TEXT, MASK])
    out["huge-size.bin"] = struct.pack(">H", len(big)) + big + x
    return out


def main() -> None:
    for name, seeds in [("onnx", onnx_seeds()), ("v2-json", json_seeds()), ("binary-tensor", binary_seeds())]:
        folder = ROOT / name
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.iterdir():
            old.unlink()
        for file, data in seeds.items():
            (folder / file).write_bytes(data)
        print(f"{folder}: {len(seeds)} seeds")


if __name__ == "__main__":
    main()
