"""Writes Resize / Upsample cases in the ONNX node-test layout, with ONNX Runtime's outputs as the
expected values, into Tests/BerthEngineTests/Data/resize-ort (ConformanceTests runs them).

The Debian ONNX 1.12 node data has no opset 18/19 Resize tests (antialias, axes,
keep_aspect_ratio_policy, half_pixel_symmetric) and few dtypes; these cover them. Cases ONNX Runtime
refuses (cubic on integers, float64) are left out. Run with the venv's python:
    .venv/bin/python scripts/make_resize_cases.py
"""
import itertools
import os
import shutil
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, TensorProto, numpy_helper
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "BerthEngineTests", "Data", "resize-ort")
shutil.rmtree(out, ignore_errors=True); os.makedirs(out)
rng = np.random.default_rng(0)
count = 0
def case(name, opset, attrs, x, roi=None, scales=None, sizes=None, op="Resize", legacy_scales_input=False):
    global count
    inputs = [helper.make_tensor_value_info("X", helper.np_dtype_to_tensor_dtype(x.dtype), x.shape)]
    feeds = {"X": x}
    names = ["X"]
    inits = []
    if op == "Upsample" and opset < 9:
        pass
    elif legacy_scales_input:
        inits.append(numpy_helper.from_array(np.array(scales, np.float32), "scales")); names.append("scales")
    else:
        for nm, v, dt in [("roi", roi, np.float32), ("scales", scales, np.float32), ("sizes", sizes, np.int64)]:
            if v is None: names.append("")
            else:
                inits.append(numpy_helper.from_array(np.array(v, dt), nm)); names.append(nm)
        while names[-1] == "": names.pop()
    node = helper.make_node(op, names, ["Y"], **attrs)
    g = helper.make_graph([node], name, inputs, [helper.make_tensor_value_info("Y", helper.np_dtype_to_tensor_dtype(x.dtype), None)], initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    try:
        s = ort.InferenceSession(m.SerializeToString())
        y = s.run(None, feeds)[0]
    except Exception as e:
        print("ORT refuses", name, str(e)[:150]); return
    d = os.path.join(out, name); os.makedirs(d + "/test_data_set_0")
    onnx.save(m, d + "/model.onnx")
    onnx.save_tensor(numpy_helper.from_array(x), d + "/test_data_set_0/input_0.pb")
    onnx.save_tensor(numpy_helper.from_array(y), d + "/test_data_set_0/output_0.pb")
    count += 1

x = rng.standard_normal((1, 2, 5, 7)).astype(np.float32)
coords = ["half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners", "asymmetric", "tf_crop_and_resize"]
roi = [0, 0, 0.1, 0.2, 1, 1, 0.8, 0.9]
for mode, c, sc in itertools.product(["nearest", "linear", "cubic"], coords, [[1, 1, 2, 2], [1, 1, 0.6, 0.45], [1, 1, 1.7, 3.1]]):
    case(f"r19_{mode}_{c}_{'x'.join(map(str, sc))}", 19, dict(mode=mode, coordinate_transformation_mode=c, extrapolation_value=-3.0),
         x, roi=roi if c == "tf_crop_and_resize" else None, scales=sc)
for nm in ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"]:
    for sz in [[1, 2, 9, 13], [1, 2, 3, 4]]:
        case(f"r19_nearest_{nm}_{sz[2]}", 19, dict(mode="nearest", nearest_mode=nm), x, sizes=sz)
for mode in ["linear", "cubic"]:
    for sc in [[1, 1, 0.6, 0.45], [1, 1, 0.5, 0.25], [1, 1, 0.3, 1.5]]:
        for c in ["half_pixel", "align_corners", "asymmetric", "pytorch_half_pixel"]:
            case(f"r18_aa_{mode}_{c}_{'x'.join(map(str, sc))}", 18, dict(mode=mode, antialias=1, coordinate_transformation_mode=c), x, scales=sc)
    case(f"r18_aa_{mode}_sizes", 18, dict(mode=mode, antialias=1), x, sizes=[1, 2, 2, 3])
    case(f"r18_aa_{mode}_exclude", 18, dict(mode=mode, antialias=1, exclude_outside=1), x, sizes=[1, 2, 3, 3])
    case(f"r18_{mode}_exclude_A", 18, dict(mode=mode, exclude_outside=1, cubic_coeff_a=-0.5), x, scales=[1, 1, 1.5, 0.8])
for pol in ["stretch", "not_larger", "not_smaller"]:
    for mode in ["nearest", "linear"]:
        case(f"r18_policy_{pol}_{mode}", 18, dict(mode=mode, keep_aspect_ratio_policy=pol, axes=[2, 3]), x, sizes=[8, 8])
        case(f"r18_policy_{pol}_{mode}_small", 18, dict(mode=mode, keep_aspect_ratio_policy=pol, axes=[3, 2]), x, sizes=[3, 2])
case("r18_axes_scales", 18, dict(mode="linear", axes=[3, 2]), x, scales=[2.0, 1.5])
case("r18_axes_one", 18, dict(mode="cubic", axes=[3]), x, scales=[0.5])
case("r18_axes_crop", 18, dict(mode="linear", axes=[2, 3], coordinate_transformation_mode="tf_crop_and_resize"), x, roi=[0.2, 0.1, 0.9, 0.7], sizes=[4, 6])
case("r13_tf_half_pixel_for_nn", 13, dict(mode="nearest", coordinate_transformation_mode="tf_half_pixel_for_nn"), x, scales=[1, 1, 1.3, 0.7])
case("r11_linear", 11, dict(mode="linear"), x, roi=[], scales=[1, 1, 2, 2])
case("r10_nearest", 10, dict(mode="nearest"), x, scales=[1, 1, 2, 3], legacy_scales_input=True)
case("r10_nearest_down", 10, dict(mode="nearest"), x, scales=[1, 1, 0.5, 0.6], legacy_scales_input=True)
case("r10_linear", 10, dict(mode="linear"), x, scales=[1, 1, 2, 1.5], legacy_scales_input=True)
case("up9_linear", 9, dict(mode="linear"), x, scales=[1, 1, 2, 2], op="Upsample", legacy_scales_input=True)
case("up7_nearest", 7, dict(mode="nearest", scales=[1.0, 1.0, 2.0, 3.0]), x, op="Upsample")
case("up7_linear", 7, dict(mode="linear", scales=[1.0, 1.0, 2.0, 2.0]), x, op="Upsample")
for dt in [np.uint8, np.int8, np.int32, np.float64]:
    xi = (rng.standard_normal((1, 1, 4, 5)) * 50 + (100 if dt == np.uint8 else 0)).astype(dt)
    for mode in ["nearest", "linear", "cubic"]:
        case(f"r19_{mode}_{np.dtype(dt).name}", 19, dict(mode=mode), xi, scales=[1, 1, 1.5, 1.8])
# 3-D and 5-D inputs, resizing inner and outer axes
x3 = rng.standard_normal((2, 3, 6)).astype(np.float32)
case("r19_linear_3d", 19, dict(mode="linear"), x3, scales=[1, 2, 0.5])
case("r19_linear_outer", 19, dict(mode="linear"), x3, scales=[2, 1, 1])
x5 = rng.standard_normal((1, 2, 3, 4, 5)).astype(np.float32)
case("r19_linear_5d", 19, dict(mode="linear"), x5, scales=[1, 1, 2, 0.5, 1.5])
case("r19_nearest_5d", 19, dict(mode="nearest"), x5, scales=[1, 1, 2, 0.5, 1.5])
print("wrote", count, "cases with onnxruntime", ort.__version__, file=sys.stderr)
