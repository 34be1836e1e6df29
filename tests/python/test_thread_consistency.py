"""Two intra-op threads against one, and both against ONNX Runtime, on the zoo's architectures
(the bench's MLP, MNIST CNN and BERT-mini-like transformer from scripts/make_examples.py; ResNet-50,
MobileNetV2, DenseNet-121 and a ViT-Tiny from bench/cnn_models.py; random weights).

With several threads Berth splits work itself: convolutions in blocked regions by batch slices
(batch ≥ 2, here 3: uneven pieces) or output-channel slices (batch 1), packed-weight products by
row pieces, sgemm by rows or columns, attention by (batch, head, row block). Each piece runs the
same arithmetic on its part, so the outputs may differ from one thread's only where a piece's
primitive blocks the reduction differently.

Tolerances: 2 threads vs 1 thread within 1e-5 of the output's largest magnitude (the brief's bound
for "the same outputs"); each vs ONNX Runtime within 1e-4 of it plus 1e-5 absolute (fp32 sums in
another order per kernel, over up to 53 layers), as in test_attention_fusion.py.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "bench"))
import berthpy  # noqa: E402

THREADS_RTOL = 1e-5
ORT_RTOL = 1e-4
ORT_ATOL = 1e-5


def _build(name: str, path: Path) -> Path:
    if name in ("mlp", "cnn", "transformer"):
        berthpy.load_script("make_examples").GENERATED[name](path)
    else:
        import cnn_models  # bench/cnn_models.py
        # A 4-block ViT keeps the debug-build run short; the blocks are all alike.
        model = cnn_models.make_vit_tiny(depth=4) if name == "vit_tiny" else cnn_models.BUILDERS[name]()
        onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("zoo")
    return lambda name: _build(name, d / f"{name}.onnx") if not (d / f"{name}.onnx").exists() else d / f"{name}.onnx"


def _feeds(path: Path, batch: int) -> dict[str, np.ndarray]:
    m = onnx.load(str(path), load_external_data=False)
    inits = {i.name for i in m.graph.initializer}
    rng = np.random.default_rng(7)
    feeds = {}
    for vi in m.graph.input:
        if vi.name in inits:
            continue
        tt = vi.type.tensor_type
        shape = [d.dim_value if d.HasField("dim_value") else batch for d in tt.shape.dim]
        dtype = onnx.helper.tensor_dtype_to_np_dtype(tt.elem_type)
        feeds[vi.name] = (rng.integers(0, 100, shape) if np.issubdtype(dtype, np.integer) else rng.standard_normal(shape)).astype(dtype)
    return feeds


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("name", ["mlp", "cnn", "transformer", "mobilenetv2", "resnet50", "densenet121", "vit_tiny"])
def test_two_threads_match_one_and_ort(berth_bin, models, tmp_path, name, batch):
    _check_two_threads(berth_bin, models(name), tmp_path, name, batch)


@pytest.mark.parametrize("name", ["cnn", "mobilenetv2", "resnet50"])
def test_far_cores_plan_matches_one_thread_and_ort(berth_bin, models, tmp_path, monkeypatch, name):
    """With the pool's cores taken as far apart (BERTH_POOL_FAR=1; on the VMs here the host moves
    the two vCPUs between one die and two): small convolutions run whole, and batch-1 convolutions
    on 7x7 planes switch to nChw16c channel pieces (BlockedConvLayout's far rule)."""
    monkeypatch.setenv("BERTH_POOL_FAR", "1")
    _check_two_threads(berth_bin, models(name), tmp_path, name, 1)


def _check_two_threads(berth_bin, path, tmp_path, name, batch):
    feeds = _feeds(path, batch)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    expected = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds)))
    got = {}
    for threads in (1, 2):
        proc, out = berthpy.berth_run(berth_bin, path, feeds, tmp_path / f"t{threads}", extra=["--threads", str(threads)])
        assert proc.returncode == 0, proc.stderr
        got[threads] = out
    for oname, ref in expected.items():
        stem = berthpy.safe_output_name(oname)
        one, two = got[1][stem], got[2][stem]
        assert one.shape == ref.shape and two.shape == ref.shape
        scale = float(np.max(np.abs(ref))) or 1.0
        gap = float(np.max(np.abs(two - one)))
        assert gap <= THREADS_RTOL * scale, f"{name} b{batch} {oname}: 2 vs 1 thread differ by {gap:.3g} (scale {scale:.3g})"
        for threads, y in ((1, one), (2, two)):
            err = float(np.max(np.abs(y - ref)))
            assert err <= ORT_RTOL * scale + ORT_ATOL, f"{name} b{batch} {oname} {threads} thr: {err:.3g} from ORT (scale {scale:.3g})"
