"""CNN benchmark models built from onnx.helper with random (He) weights, no downloads.

ResNet-50 (torchvision's bottleneck layout, BatchNorm already folded into the convolutions as
PyTorch's eval-mode export does) and MobileNetV2 (depthwise convolutions, ReLU6 as Clip 0..6),
both 3x224x224 with a symbolic batch, plus DenseNet-121 (BatchNormalization kept) and ViT-Tiny/16.
Used by bench/engine_vs_ort.py (--models resnet50,mobilenetv2,densenet121,vit_tiny).
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


def _bn(b: _Builder, x: str, c: int) -> str:
    """BatchNormalization with random statistics, kept as a node (a pre-activation BN follows a
    Concat, not a Conv, so an exporter cannot fold it)."""
    nm = b.name("bn")
    scale = (1 + 0.1 * b.rng.standard_normal(c)).astype(np.float32)
    bias = (0.1 * b.rng.standard_normal(c)).astype(np.float32)
    mean = (0.1 * b.rng.standard_normal(c)).astype(np.float32)
    var = (1 + 0.1 * np.abs(b.rng.standard_normal(c))).astype(np.float32)
    for suffix, v in (("s", scale), ("b", bias), ("m", mean), ("v", var)):
        b.inits.append(numpy_helper.from_array(v, f"{nm}.{suffix}"))
    b.nodes.append(helper.make_node("BatchNormalization", [x, nm + ".s", nm + ".b", nm + ".m", nm + ".v"], [nm], name=nm))
    return nm


def make_densenet121(seed: int = 121) -> onnx.ModelProto:
    """DenseNet-121 as torchvision exports it in eval mode: BN → ReLU → Conv pre-activation
    layers whose inputs are the Concat of every earlier feature map (growth 32, bottleneck 128),
    transitions with 2x2 average pooling; BatchNormalization nodes kept."""
    b = _Builder(seed)
    x = b.conv("x", 3, 64, 7, stride=2, act=None)
    x = b.act(_bn(b, x, 64), "relu")
    b.nodes.append(helper.make_node("MaxPool", [x], ["pool0"], name="pool0", kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2]))
    x, c = "pool0", 64
    for bi, layers in enumerate([6, 12, 24, 16]):
        feats = [x]
        for _ in range(layers):
            y = b.act(_bn(b, x, c), "relu")
            y = b.conv(y, c, 128, 1, act=None)
            y = b.act(_bn(b, y, 128), "relu")
            y = b.conv(y, 128, 32, 3, act=None)
            feats.append(y)
            x = b.name("cat")
            b.nodes.append(helper.make_node("Concat", feats, [x], name=x, axis=1))
            c += 32
        if bi < 3:
            y = b.act(_bn(b, x, c), "relu")
            c //= 2
            y = b.conv(y, c * 2, c, 1, act=None)
            x = b.name("avgpool")
            b.nodes.append(helper.make_node("AveragePool", [y], [x], name=x, kernel_shape=[2, 2], strides=[2, 2]))
    x = b.act(_bn(b, x, c), "relu")
    return b.model("densenet121", b.head(x, c))


def make_vit_tiny(seed: int = 16, depth: int = 12, dim: int = 192, heads: int = 3, mlp: int = 768) -> onnx.ModelProto:
    """ViT-Tiny/16 (timm's vit_tiny_patch16_224 sizes: 12 blocks, width 192, 3 heads, MLP 768):
    16x16 patch-embedding Conv, learned position embedding, pre-LN blocks with separate Q/K/V
    MatMuls, exact (Erf) GELU, and mean pooling over the 196 tokens instead of a class token
    (keeps the batch symbolic without Shape arithmetic)."""
    b = _Builder(seed)
    tokens, hd = 196, dim // heads

    def init(name: str, arr: np.ndarray) -> str:
        b.inits.append(numpy_helper.from_array(arr.astype(np.float32), name))
        return name

    def const(name: str, arr) -> str:
        b.inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def node(op: str, ins: list[str], **attrs) -> str:
        y = b.name(op.lower())
        b.nodes.append(helper.make_node(op, ins, [y], name=y, **attrs))
        return y

    def linear(x: str, cin: int, cout: int) -> str:
        nm = b.name("fc")
        w = init(nm + ".w", b.rng.standard_normal((cin, cout)) * np.sqrt(1.0 / cin))
        bias = init(nm + ".b", b.rng.standard_normal(cout) * 0.02)
        return node("Add", [node("MatMul", [x, w]), bias])

    def layernorm(x: str) -> str:
        nm = b.name("ln")
        return node("LayerNormalization", [x, init(nm + ".g", 1 + 0.1 * b.rng.standard_normal(dim)),
                                           init(nm + ".b", 0.1 * b.rng.standard_normal(dim))], axis=-1, epsilon=1e-6)

    w = init("patch.w", b.rng.standard_normal((dim, 3, 16, 16)) * np.sqrt(2.0 / (3 * 256)))
    pb = init("patch.b", b.rng.standard_normal(dim) * 0.02)
    p = node("Conv", ["x", w, pb], kernel_shape=[16, 16], strides=[16, 16])
    p = node("Reshape", [p, const("shape_tokens_t", np.array([0, dim, tokens], np.int64))])
    x = node("Transpose", [p], perm=[0, 2, 1])
    x = node("Add", [x, init("pos", b.rng.standard_normal((1, tokens, dim)) * 0.02)])
    heads_shape = const("shape_heads", np.array([0, tokens, heads, hd], np.int64))
    merge_shape = const("shape_merge", np.array([0, tokens, dim], np.int64))
    scale = const("attn_scale", np.array(1.0 / np.sqrt(hd), np.float32))
    half, one, sqrt2 = const("half", np.array(0.5, np.float32)), const("one", np.array(1.0, np.float32)), const("sqrt2", np.array(np.sqrt(2.0), np.float32))
    for _ in range(depth):
        h = layernorm(x)
        q = node("Transpose", [node("Reshape", [linear(h, dim, dim), heads_shape])], perm=[0, 2, 1, 3])
        k = node("Transpose", [node("Reshape", [linear(h, dim, dim), heads_shape])], perm=[0, 2, 3, 1])
        v = node("Transpose", [node("Reshape", [linear(h, dim, dim), heads_shape])], perm=[0, 2, 1, 3])
        a = node("Softmax", [node("Mul", [node("MatMul", [q, k]), scale])], axis=-1)
        o = node("Reshape", [node("Transpose", [node("MatMul", [a, v])], perm=[0, 2, 1, 3]), merge_shape])
        x = node("Add", [x, linear(o, dim, dim)])
        h = linear(layernorm(x), dim, mlp)
        g = node("Mul", [node("Mul", [h, half]), node("Add", [node("Erf", [node("Div", [h, sqrt2])]), one])])
        x = node("Add", [x, linear(g, mlp, dim)])
    x = node("ReduceMean", [layernorm(x)], axes=[1], keepdims=0)
    hw = init("head.w", b.rng.standard_normal((1000, dim)) * np.sqrt(1.0 / dim))
    b.nodes.append(helper.make_node("Gemm", [x, hw, init("head.b", np.zeros(1000))], ["logits"], name="head", transB=1))
    graph = helper.make_graph(b.nodes, "vit_tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 224, 224])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 1000])], initializer=b.inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="berth-bench")
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


BUILDERS.update({"densenet121": make_densenet121, "vit_tiny": make_vit_tiny})
