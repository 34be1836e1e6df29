"""CNN benchmark models built from onnx.helper with random (He) weights, no downloads.

ResNet-50 (torchvision's bottleneck layout, BatchNorm already folded into the convolutions as
PyTorch's eval-mode export does) and MobileNetV2 (depthwise convolutions, ReLU6 as Clip 0..6),
both 3x224x224 with a symbolic batch. Used by bench/engine_vs_ort.py (--models resnet50,mobilenetv2).
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13


class _Builder:
    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[TensorProto] = []
        self.n = 0

    def name(self, base: str) -> str:
        self.n += 1
        return f"{base}{self.n}"

    def conv(self, x: str, cin: int, cout: int, k: int, stride: int = 1, group: int = 1, act: str | None = "relu") -> str:
        nm = self.name("conv")
        fan_in = cin // group * k * k
        w = (self.rng.standard_normal((cout, cin // group, k, k)) * np.sqrt(2.0 / fan_in)).astype(np.float32)
        b = (self.rng.standard_normal(cout) * 0.01).astype(np.float32)
        self.inits += [numpy_helper.from_array(w, nm + ".w"), numpy_helper.from_array(b, nm + ".b")]
        p = k // 2
        self.nodes.append(helper.make_node("Conv", [x, nm + ".w", nm + ".b"], [nm], name=nm, kernel_shape=[k, k],
                                           pads=[p, p, p, p], strides=[stride, stride], group=group))
        return self.act(nm, act)

    def act(self, x: str, act: str | None) -> str:
        if act == "relu":
            y = self.name("relu")
            self.nodes.append(helper.make_node("Relu", [x], [y], name=y))
            return y
        if act == "relu6":
            y = self.name("clip")
            self.nodes.append(helper.make_node("Clip", [x, "zero", "six"], [y], name=y))
            return y
        return x

    def add(self, a: str, b: str) -> str:
        y = self.name("add")
        self.nodes.append(helper.make_node("Add", [a, b], [y], name=y))
        return y

    def head(self, x: str, cin: int, classes: int = 1000) -> str:
        self.nodes.append(helper.make_node("GlobalAveragePool", [x], ["gap"], name="gap"))
        self.nodes.append(helper.make_node("Flatten", ["gap"], ["flat"], name="flatten", axis=1))
        w = (self.rng.standard_normal((classes, cin)) * np.sqrt(1.0 / cin)).astype(np.float32)
        self.inits += [numpy_helper.from_array(w, "fc.w"), numpy_helper.from_array(np.zeros(classes, np.float32), "fc.b")]
        self.nodes.append(helper.make_node("Gemm", ["flat", "fc.w", "fc.b"], ["logits"], name="fc", transB=1))
        return "logits"

    def model(self, name: str, out: str, classes: int = 1000) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, name,
                                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 224, 224])],
                                  [helper.make_tensor_value_info(out, TensorProto.FLOAT, ["N", classes])],
                                  initializer=self.inits)
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="berth-bench")
        m.ir_version = 8
        onnx.checker.check_model(m)
        return m


def make_resnet50(seed: int = 50) -> onnx.ModelProto:
    b = _Builder(seed)
    x = b.conv("x", 3, 64, 7, stride=2)
    b.nodes.append(helper.make_node("MaxPool", [x], ["pool0"], name="pool0", kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2]))
    x, cin = "pool0", 64
    for width, blocks, stride in [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]:
        for i in range(blocks):
            s = stride if i == 0 else 1
            y = b.conv(x, cin, width, 1)
            y = b.conv(y, width, width, 3, stride=s)
            y = b.conv(y, width, width * 4, 1, act=None)
            short = b.conv(x, cin, width * 4, 1, stride=s, act=None) if i == 0 else x
            x = b.act(b.add(y, short), "relu")
            cin = width * 4
    return b.model("resnet50", b.head(x, cin))


def make_mobilenetv2(seed: int = 2) -> onnx.ModelProto:
    b = _Builder(seed)
    b.inits += [numpy_helper.from_array(np.array(0, np.float32), "zero"), numpy_helper.from_array(np.array(6, np.float32), "six")]
    x = b.conv("x", 3, 32, 3, stride=2, act="relu6")
    cin = 32
    for t, c, n, s in [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]:
        for i in range(n):
            stride = s if i == 0 else 1
            hidden = cin * t
            y = b.conv(x, cin, hidden, 1, act="relu6") if t != 1 else x
            y = b.conv(y, hidden, hidden, 3, stride=stride, group=hidden, act="relu6")
            y = b.conv(y, hidden, c, 1, act=None)
            x = b.add(y, x) if stride == 1 and cin == c else y
            cin = c
    x = b.conv(x, cin, 1280, 1, act="relu6")
    return b.model("mobilenetv2", b.head(x, 1280))


BUILDERS = {"resnet50": make_resnet50, "mobilenetv2": make_mobilenetv2}
