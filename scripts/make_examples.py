#!/usr/bin/env python3
"""Build the example / benchmark ONNX models for Berth.

Deterministic: every random draw uses a fixed seed, so re-running produces
byte-identical models (given the same onnx / scikit-learn / skl2onnx versions).

Writes into --out (default: <repo>/examples):
  digits_mlp.onnx             scikit-learn MLPClassifier on load_digits, via skl2onnx
  digits_logreg.onnx          scikit-learn LogisticRegression on load_digits (ai.onnx.ml LinearClassifier)
                              (input `input` float [N,64]; outputs `label` int64 [N],
                              `probabilities` float [N,10])
  digits_sample.npy           float32 [8,64]  first 8 rows of the test split
  digits_sample_labels.npy    int64   [8]     their true labels

and, unless --no-generated, into <out>/generated/ (git-ignored):
  mlp.onnx                    x [N,1000] -> Gemm256+Relu -> Gemm128+Relu -> Gemm1 -> Sigmoid
  cnn.onnx                    x [N,1,28,28] -> 2x(Conv3x3+Relu+MaxPool2) -> Flatten
                              -> Gemm128+Relu -> Gemm10 -> Softmax
  transformer.onnx (+ .data)  4-layer encoder, int64 token ids [N,128] -> [N,128,256],
                              weights stored as external data (transformer.onnx.data)

Usage:  python scripts/make_examples.py [--out DIR] [--no-generated] [--no-digits]
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "examples"

OPSET = 17
IR_VERSION = 8

# ---------------------------------------------------------------------------
# helpers


def _init(name: str, arr: np.ndarray) -> TensorProto:
    return numpy_helper.from_array(np.ascontiguousarray(arr), name=name)


def _f32(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float32)


def _finish(graph: onnx.GraphProto, producer: str) -> onnx.ModelProto:
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name=producer,
        producer_version="1",
    )
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    return model


def ops_used(model: onnx.ModelProto) -> list[tuple[str, str]]:
    """Sorted unique (domain, op_type) pairs used by the main graph."""
    return sorted({(n.domain or "ai.onnx", n.op_type) for n in model.graph.node})


# ---------------------------------------------------------------------------
# digits: a real scikit-learn -> skl2onnx model


def build_digits(out_dir: str | os.PathLike, verbose: bool = True) -> dict:
    """Train an MLPClassifier on load_digits and convert it with skl2onnx.

    Returns a dict with paths, the ops used, and the test accuracy.
    """
    import warnings

    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    X, y = load_digits(return_X_y=True)
    X = X.astype(np.float32)
    y = y.astype(np.int64)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=0, stratify=y
    )
    clf = MLPClassifier(hidden_layer_sizes=(64,), max_iter=300, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X_train, y_train)
    accuracy = float(clf.score(X_test, y_test))

    # skl2onnx always emits ai.onnx.ml ArrayFeatureExtractor (classes[argmax])
    # for a multiclass MLPClassifier; there is no converter option to avoid it
    # ('nocl' only changes the class labels stored, not the graph).
    # zipmap=False keeps `probabilities` a plain tensor instead of seq(map).
    model = convert_sklearn(
        clf,
        name="digits_mlp",
        initial_types=[("input", FloatTensorType([None, 64]))],
        options={id(clf): {"zipmap": False}},
        target_opset={"": OPSET, "ai.onnx.ml": 3},
    )
    model.producer_version = "1"  # make output independent of skl2onnx patch level
    onnx.checker.check_model(model, full_check=True)

    model_path = out_dir / "digits_mlp.onnx"
    onnx.save_model(model, str(model_path))
    sample = np.ascontiguousarray(X_test[:8], dtype=np.float32)
    labels = np.ascontiguousarray(y_test[:8], dtype=np.int64)
    np.save(out_dir / "digits_sample.npy", sample)
    np.save(out_dir / "digits_sample_labels.npy", labels)

    ops = ops_used(model)
    if verbose:
        print(f"digits_mlp.onnx: test accuracy {accuracy:.4f}")
        print("  opsets: " + ", ".join(f"{o.domain or 'ai.onnx'}:{o.version}" for o in model.opset_import))
        print("  ops:    " + ", ".join(f"{d}::{o}" for d, o in ops))
        print("  inputs: " + ", ".join(i.name for i in model.graph.input))
        print("  outputs:" + ", ".join(" " + o.name for o in model.graph.output))
    return {
        "model": model_path,
        "sample": out_dir / "digits_sample.npy",
        "labels": out_dir / "digits_sample_labels.npy",
        "ops": ops,
        "accuracy": accuracy,
    }


def build_digits_logreg(out_dir: str | os.PathLike, verbose: bool = True) -> Path:
    """A LogisticRegression on load_digits: the small classic-ML model of the demo and of the
    server-overhead benchmark (one ai.onnx.ml LinearClassifier + Normalizer)."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X.astype(np.float32), y.astype(np.int64), test_size=0.25, random_state=0, stratify=y)
    clf = LogisticRegression(max_iter=2000).fit(X_train / 16, y_train)
    # Trained on pixels / 16 so the coefficients are well scaled; fold the scaling back in so the
    # model takes raw 0..16 pixels like digits_mlp.
    clf.coef_ = clf.coef_ / 16
    model = convert_sklearn(clf, name="digits_logreg", initial_types=[("input", FloatTensorType([None, 64]))],
                            options={id(clf): {"zipmap": False}}, target_opset={"": OPSET, "ai.onnx.ml": 3})
    model.producer_version = "1"
    onnx.checker.check_model(model, full_check=True)
    path = Path(out_dir) / "digits_logreg.onnx"
    onnx.save_model(model, str(path))
    if verbose:
        print(f"digits_logreg.onnx: test accuracy {clf.score(X_test, y_test):.4f}")
    return path


# ---------------------------------------------------------------------------
# generated models


def make_mlp_model(seed: int = 1) -> onnx.ModelProto:
    rng = np.random.default_rng(seed)
    dims = [1000, 256, 128, 1]
    inits, nodes = [], []
    cur = "x"
    for i, (fin, fout) in enumerate(zip(dims[:-1], dims[1:])):
        # PyTorch-style Linear: W is [out, in], transB=1.
        w = _f32(rng.standard_normal((fout, fin)) * np.sqrt(2.0 / fin))
        b = _f32(rng.standard_normal(fout) * 0.01)
        inits += [_init(f"fc{i}.weight", w), _init(f"fc{i}.bias", b)]
        gemm_out = f"fc{i}_out"
        nodes.append(helper.make_node("Gemm", [cur, f"fc{i}.weight", f"fc{i}.bias"], [gemm_out],
                                      name=f"fc{i}", alpha=1.0, beta=1.0, transB=1))
        if i < len(dims) - 2:
            cur = f"relu{i}_out"
            nodes.append(helper.make_node("Relu", [gemm_out], [cur], name=f"relu{i}"))
        else:
            cur = gemm_out
    nodes.append(helper.make_node("Sigmoid", [cur], ["y"], name="sigmoid"))
    graph = helper.make_graph(
        nodes, "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1000])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1])],
        initializer=inits,
    )
    return _finish(graph, "berth-make_examples")


def make_cnn_model(seed: int = 2) -> onnx.ModelProto:
    rng = np.random.default_rng(seed)

    def he(shape, fan_in):
        return _f32(rng.standard_normal(shape) * np.sqrt(2.0 / fan_in))

    inits = [
        _init("conv1.weight", he((32, 1, 3, 3), 9)),
        _init("conv1.bias", _f32(rng.standard_normal(32) * 0.01)),
        _init("conv2.weight", he((64, 32, 3, 3), 32 * 9)),
        _init("conv2.bias", _f32(rng.standard_normal(64) * 0.01)),
        _init("fc1.weight", he((128, 64 * 7 * 7), 64 * 7 * 7)),
        _init("fc1.bias", _f32(rng.standard_normal(128) * 0.01)),
        _init("fc2.weight", he((10, 128), 128)),
        _init("fc2.bias", _f32(rng.standard_normal(10) * 0.01)),
    ]
    conv = dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1])
    pool = dict(kernel_shape=[2, 2], strides=[2, 2])
    nodes = [
        helper.make_node("Conv", ["x", "conv1.weight", "conv1.bias"], ["c1"], name="conv1", **conv),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("MaxPool", ["r1"], ["p1"], name="pool1", **pool),
        helper.make_node("Conv", ["p1", "conv2.weight", "conv2.bias"], ["c2"], name="conv2", **conv),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        helper.make_node("MaxPool", ["r2"], ["p2"], name="pool2", **pool),
        helper.make_node("Flatten", ["p2"], ["flat"], name="flatten", axis=1),
        helper.make_node("Gemm", ["flat", "fc1.weight", "fc1.bias"], ["f1"], name="fc1", transB=1),
        helper.make_node("Relu", ["f1"], ["r3"], name="relu3"),
        helper.make_node("Gemm", ["r3", "fc2.weight", "fc2.bias"], ["logits"], name="fc2", transB=1),
        helper.make_node("Softmax", ["logits"], ["probs"], name="softmax", axis=1),
    ]
    graph = helper.make_graph(
        nodes, "cnn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 28, 28])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", 10])],
        initializer=inits,
    )
    return _finish(graph, "berth-make_examples")


TRANSFORMER_VOCAB = 1000
TRANSFORMER_SEQ = 128
TRANSFORMER_HIDDEN = 256
TRANSFORMER_HEADS = 4
TRANSFORMER_FFN = 1024
TRANSFORMER_LAYERS = 4


def make_transformer_model(seed: int = 3, layers: int = TRANSFORMER_LAYERS) -> onnx.ModelProto:
    rng = np.random.default_rng(seed)
    V, S, H, NH, F = (TRANSFORMER_VOCAB, TRANSFORMER_SEQ, TRANSFORMER_HIDDEN,
                      TRANSFORMER_HEADS, TRANSFORMER_FFN)
    D = H // NH
    scale = 0.02

    def w(*shape):
        return _f32(rng.standard_normal(shape) * scale)

    inits = [
        _init("embed.weight", w(V, H)),
        _init("pos_embed.weight", w(S, H)),
        # Q/K/V split: copy dim 0 (batch) via the Reshape "0" convention ...
        _init("shape_split_heads", np.array([0, S, NH, D], dtype=np.int64)),
        # ... and merge with -1 for batch, so both Reshape conventions are exercised.
        _init("shape_merge_heads", np.array([-1, S, H], dtype=np.int64)),
        _init("attn_scale", _f32(1.0 / np.sqrt(D))),  # 1/8
        _init("gelu_sqrt2", _f32(np.sqrt(2.0))),
        _init("gelu_one", _f32(1.0)),
        _init("gelu_half", _f32(0.5)),
    ]
    nodes = [
        helper.make_node("Gather", ["embed.weight", "input_ids"], ["tok_emb"], name="embed", axis=0),
        helper.make_node("Add", ["tok_emb", "pos_embed.weight"], ["h0"], name="add_pos"),
    ]
    h = "h0"
    for l in range(layers):
        p = f"layer{l}"
        for m in ("q", "k", "v", "o"):
            inits += [_init(f"{p}.{m}.weight", w(H, H)), _init(f"{p}.{m}.bias", w(H))]
        inits += [
            _init(f"{p}.ln1.weight", _f32(1.0 + rng.standard_normal(H) * scale)),
            _init(f"{p}.ln1.bias", w(H)),
            _init(f"{p}.ffn1.weight", w(H, F)),
            _init(f"{p}.ffn1.bias", w(F)),
            _init(f"{p}.ffn2.weight", w(F, H)),
            _init(f"{p}.ffn2.bias", w(H)),
            _init(f"{p}.ln2.weight", _f32(1.0 + rng.standard_normal(H) * scale)),
            _init(f"{p}.ln2.bias", w(H)),
        ]

        def linear(x, m, out):
            nodes.append(helper.make_node("MatMul", [x, f"{p}.{m}.weight"], [f"{out}_mm"], name=f"{p}.{m}.matmul"))
            nodes.append(helper.make_node("Add", [f"{out}_mm", f"{p}.{m}.bias"], [out], name=f"{p}.{m}.add"))
            return out

        heads = {}
        for m in ("q", "k", "v"):
            proj = linear(h, m, f"{p}.{m}")
            nodes.append(helper.make_node("Reshape", [proj, "shape_split_heads"], [f"{p}.{m}_4d"], name=f"{p}.{m}.reshape"))
            perm = [0, 2, 3, 1] if m == "k" else [0, 2, 1, 3]  # K is transposed to [N,NH,D,S]
            nodes.append(helper.make_node("Transpose", [f"{p}.{m}_4d"], [f"{p}.{m}_heads"], name=f"{p}.{m}.transpose", perm=perm))
            heads[m] = f"{p}.{m}_heads"
        nodes += [
            helper.make_node("MatMul", [heads["q"], heads["k"]], [f"{p}.scores"], name=f"{p}.qk"),
            helper.make_node("Mul", [f"{p}.scores", "attn_scale"], [f"{p}.scores_scaled"], name=f"{p}.scale"),
            helper.make_node("Softmax", [f"{p}.scores_scaled"], [f"{p}.probs"], name=f"{p}.softmax", axis=-1),
            helper.make_node("MatMul", [f"{p}.probs", heads["v"]], [f"{p}.ctx"], name=f"{p}.pv"),
            helper.make_node("Transpose", [f"{p}.ctx"], [f"{p}.ctx_t"], name=f"{p}.ctx.transpose", perm=[0, 2, 1, 3]),
            helper.make_node("Reshape", [f"{p}.ctx_t", "shape_merge_heads"], [f"{p}.ctx_3d"], name=f"{p}.ctx.reshape"),
        ]
        attn = linear(f"{p}.ctx_3d", "o", f"{p}.attn_out")
        nodes += [
            helper.make_node("Add", [h, attn], [f"{p}.res1"], name=f"{p}.res1"),
            helper.make_node("LayerNormalization", [f"{p}.res1", f"{p}.ln1.weight", f"{p}.ln1.bias"],
                             [f"{p}.ln1_out"], name=f"{p}.ln1", axis=-1, epsilon=1e-5),
        ]
        ff = linear(f"{p}.ln1_out", "ffn1", f"{p}.ffn1_out")
        # GELU (exact): x * 0.5 * (1 + erf(x / sqrt(2)))
        nodes += [
            helper.make_node("Div", [ff, "gelu_sqrt2"], [f"{p}.gelu_div"], name=f"{p}.gelu.div"),
            helper.make_node("Erf", [f"{p}.gelu_div"], [f"{p}.gelu_erf"], name=f"{p}.gelu.erf"),
            helper.make_node("Add", [f"{p}.gelu_erf", "gelu_one"], [f"{p}.gelu_add"], name=f"{p}.gelu.add"),
            helper.make_node("Mul", [ff, f"{p}.gelu_add"], [f"{p}.gelu_mul"], name=f"{p}.gelu.mul"),
            helper.make_node("Mul", [f"{p}.gelu_mul", "gelu_half"], [f"{p}.gelu_out"], name=f"{p}.gelu.half"),
        ]
        ff2 = linear(f"{p}.gelu_out", "ffn2", f"{p}.ffn2_out")
        out = "last_hidden_state" if l == layers - 1 else f"{p}.out"
        nodes += [
            helper.make_node("Add", [f"{p}.ln1_out", ff2], [f"{p}.res2"], name=f"{p}.res2"),
            helper.make_node("LayerNormalization", [f"{p}.res2", f"{p}.ln2.weight", f"{p}.ln2.bias"],
                             [out], name=f"{p}.ln2", axis=-1, epsilon=1e-5),
        ]
        h = out

    graph = helper.make_graph(
        nodes, "transformer",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["N", S])],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["N", S, H])],
        initializer=inits,
    )
    return _finish(graph, "berth-make_examples")


def save_with_external_data(model: onnx.ModelProto, path: str | os.PathLike) -> None:
    """Save `model` to `path` with all large tensors in `<name>.data` next to it."""
    path = Path(path)
    location = path.name + ".data"
    data_path = path.parent / location
    # onnx appends to an existing data file; remove it so output is deterministic.
    if data_path.exists():
        data_path.unlink()
    onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=location, size_threshold=1024, convert_attribute=False)
    onnx.checker.check_model(str(path), full_check=True)


def build_mlp(path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(make_mlp_model(), str(path))
    return path


def build_cnn(path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(make_cnn_model(), str(path))
    return path


def build_transformer(path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_with_external_data(make_transformer_model(), path)
    return path


GENERATED = {
    "mlp": build_mlp,
    "cnn": build_cnn,
    "transformer": build_transformer,
}


def build_generated(gen_dir, verbose: bool = True) -> dict[str, Path]:
    gen_dir = Path(gen_dir)
    paths = {}
    for name, fn in GENERATED.items():
        paths[name] = fn(gen_dir / f"{name}.onnx")
        if verbose:
            m = onnx.load(str(paths[name]), load_external_data=False)
            size = paths[name].stat().st_size
            data = paths[name].with_name(paths[name].name + ".data")
            extra = f" + {data.name} ({data.stat().st_size / 1e6:.1f} MB)" if data.exists() else ""
            print(f"{paths[name]} ({size / 1e6:.2f} MB{extra}): "
                  + ", ".join(o for _, o in ops_used(m)))
    return paths


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(DEFAULT_OUT), help="output directory (default: %(default)s)")
    ap.add_argument("--generated", action=argparse.BooleanOptionalAction, default=True,
                    help="also build mlp/cnn/transformer into OUT/generated/ (default: on)")
    ap.add_argument("--digits", action=argparse.BooleanOptionalAction, default=True,
                    help="build the scikit-learn digits model (default: on)")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.digits:
        build_digits(out)
        build_digits_logreg(out)
    if args.generated:
        build_generated(out / "generated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
