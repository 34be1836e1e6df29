#!/usr/bin/env python3
"""Train the small residual CNN on scikit-learn's digits (8x8 images) with numpy alone and write
examples/digits_cnn.onnx — the CNN the compression tests (issue 15) quantize and prune.

    input [N, 1, 8, 8] (pixels / 16)
    Conv 1→24 3x3 + ReLU = r1 ── Conv 24→24 + ReLU ── Conv 24→24 ──(+ r1: residual)── ReLU
    MaxPool 2x2 → Conv 24→48 3x3 + ReLU → GlobalAveragePool → Flatten → Gemm 48→10 = logits

Deterministic (seed 0): Adam on mini-batches of 64, 30 epochs on the first 1,400
images; prints the accuracy on the 397 held out and on all 1,797.

    .venv/bin/python scripts/make_digits_cnn.py [--out examples/digits_cnn.onnx] [--epochs 30]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parent.parent


def im2col(x: np.ndarray) -> np.ndarray:
    """[N, C, H, W] → [N, H, W, C·9] windows of a 3x3 convolution with padding 1."""
    n, c, h, w = x.shape
    p = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    cols = np.stack([p[:, :, i:i + h, j:j + w] for i in range(3) for j in range(3)], axis=2)  # [N, C, 9, H, W]
    return cols.transpose(0, 3, 4, 1, 2).reshape(n, h, w, c * 9)


def col2im(d: np.ndarray, c: int) -> np.ndarray:
    """The adjoint of im2col: [N, H, W, C·9] → [N, C, H, W]."""
    n, h, w, _ = d.shape
    d = d.reshape(n, h, w, c, 9).transpose(0, 3, 4, 1, 2)  # [N, C, 9, H, W]
    out = np.zeros((n, c, h + 2, w + 2), d.dtype)
    for k in range(9):
        i, j = divmod(k, 3)
        out[:, :, i:i + h, j:j + w] += d[:, :, k]
    return out[:, :, 1:-1, 1:-1]


class Conv:
    def __init__(self, rng, cin: int, cout: int):
        self.w = (rng.standard_normal((cout, cin, 3, 3)) * np.sqrt(2.0 / (cin * 9))).astype(np.float32)
        self.b = np.zeros(cout, np.float32)
        self.cin = cin

    def forward(self, x):
        self.cols = im2col(x)
        y = self.cols @ self.w.reshape(self.w.shape[0], -1).T + self.b  # [N, H, W, Cout]
        return y.transpose(0, 3, 1, 2)

    def backward(self, dy):
        d = dy.transpose(0, 2, 3, 1)  # [N, H, W, Cout]
        self.dw = (d.reshape(-1, d.shape[-1]).T @ self.cols.reshape(-1, self.cols.shape[-1])).reshape(self.w.shape)
        self.db = d.sum((0, 1, 2))
        return col2im(d @ self.w.reshape(self.w.shape[0], -1), self.cin)

    def params(self):
        return [(self, "w", "dw"), (self, "b", "db")]


def train(epochs: int, seed: int = 0):
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None]
    y = d.target
    rng = np.random.default_rng(seed)
    c1, c2, c3, c4 = Conv(rng, 1, 24), Conv(rng, 24, 24), Conv(rng, 24, 24), Conv(rng, 24, 48)
    fw = (rng.standard_normal((10, 48)) * np.sqrt(1.0 / 48)).astype(np.float32)
    fb = np.zeros(10, np.float32)
    state = {"fw": fw, "fb": fb}

    def forward(xb):
        z1 = c1.forward(xb); r1 = np.maximum(z1, 0)
        z2 = c2.forward(r1); r2 = np.maximum(z2, 0)
        z3 = c3.forward(r2); a = z3 + r1; r3 = np.maximum(a, 0)
        n, c, h, w = r3.shape
        blocks = r3.reshape(n, c, h // 2, 2, w // 2, 2)
        m = blocks.max(axis=(3, 5))
        z4 = c4.forward(m); r4 = np.maximum(z4, 0)
        g = r4.mean(axis=(2, 3))
        logits = g @ state["fw"].T + state["fb"]
        return logits, (z1, r1, z2, r2, z3, a, r3, blocks, m, z4, r4, g)

    n_train = 1400
    params = c1.params() + c2.params() + c3.params() + c4.params()
    adam = {}
    lr, b1, b2, eps, t = 0.003, 0.9, 0.999, 1e-8, 0
    for epoch in range(epochs):
        order = rng.permutation(n_train)
        for s in range(0, n_train, 64):
            idx = order[s:s + 64]
            xb, yb = x[idx], y[idx]
            logits, (z1, r1, z2, r2, z3, a, r3, blocks, m, z4, r4, g) = forward(xb)
            p = np.exp(logits - logits.max(1, keepdims=True)); p /= p.sum(1, keepdims=True)
            dl = p; dl[np.arange(len(yb)), yb] -= 1; dl /= len(yb)
            grads = {"fw": dl.T @ g, "fb": dl.sum(0)}
            dg = dl @ state["fw"]
            dr4 = np.repeat(np.repeat(dg[:, :, None, None] / (r4.shape[2] * r4.shape[3]), r4.shape[2], 2), r4.shape[3], 3)
            dm = c4.backward(dr4 * (z4 > 0))
            mask = blocks == m[:, :, :, None, :, None]
            dr3 = (mask * dm[:, :, :, None, :, None]).reshape(r3.shape)
            da = dr3 * (a > 0)
            dr2 = c3.backward(da)
            dr1 = c2.backward(dr2 * (z2 > 0)) + da
            c1.backward(dr1 * (z1 > 0))
            t += 1
            items = [(state, k, grads[k]) for k in ("fw", "fb")] + [(o, k, getattr(o, dk)) for o, k, dk in params]
            for i, (owner, key, grad) in enumerate(items):
                mm, vv = adam.get(i, (0.0, 0.0))
                mm = b1 * mm + (1 - b1) * grad
                vv = b2 * vv + (1 - b2) * grad * grad
                adam[i] = (mm, vv)
                val = owner[key] if isinstance(owner, dict) else getattr(owner, key)
                val = (val - lr * (mm / (1 - b1 ** t)) / (np.sqrt(vv / (1 - b2 ** t)) + eps)).astype(np.float32)
                if isinstance(owner, dict):
                    owner[key] = val
                else:
                    setattr(owner, key, val)
    acc = lambda sl: float((forward(x[sl])[0].argmax(1) == y[sl]).mean())  # noqa: E731
    print(f"held-out accuracy {acc(slice(n_train, None)):.4f}, all {acc(slice(None)):.4f}")
    return c1, c2, c3, c4, state["fw"], state["fb"]


def to_onnx(c1, c2, c3, c4, fw, fb) -> onnx.ModelProto:
    inits, nodes = [], []
    for i, c in enumerate((c1, c2, c3, c4), 1):
        inits += [numpy_helper.from_array(c.w, f"conv{i}.w"), numpy_helper.from_array(c.b, f"conv{i}.b")]
    inits += [numpy_helper.from_array(fw, "fc.w"), numpy_helper.from_array(fb, "fc.b")]
    conv = lambda x, i, y: helper.make_node("Conv", [x, f"conv{i}.w", f"conv{i}.b"], [y], name=f"conv{i}", pads=[1, 1, 1, 1])  # noqa: E731
    nodes += [conv("input", 1, "z1"), helper.make_node("Relu", ["z1"], ["r1"], name="relu1"),
              conv("r1", 2, "z2"), helper.make_node("Relu", ["z2"], ["r2"], name="relu2"),
              conv("r2", 3, "z3"), helper.make_node("Add", ["z3", "r1"], ["a"], name="residual"),
              helper.make_node("Relu", ["a"], ["r3"], name="relu3"),
              helper.make_node("MaxPool", ["r3"], ["m"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
              conv("m", 4, "z4"), helper.make_node("Relu", ["z4"], ["r4"], name="relu4"),
              helper.make_node("GlobalAveragePool", ["r4"], ["g"], name="gap"),
              helper.make_node("Flatten", ["g"], ["flat"], name="flatten", axis=1),
              helper.make_node("Gemm", ["flat", "fc.w", "fc.b"], ["logits"], name="fc", transB=1)]
    g = helper.make_graph(nodes, "digits_cnn", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 8, 8])],
                          [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name="berth scripts/make_digits_cnn.py")
    m.ir_version = 8
    onnx.checker.check_model(m, full_check=True)
    return m


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "examples" / "digits_cnn.onnx"))
    ap.add_argument("--epochs", type=int, default=30)
    args = ap.parse_args()
    onnx.save(to_onnx(*train(args.epochs)), args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
