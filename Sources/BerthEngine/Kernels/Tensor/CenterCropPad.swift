import BerthONNX
import BerthTensor

extension TensorFamily {
    /// CenterCropPad (opset 18): each listed axis is cropped or zero-padded to its target
    /// length around the centre; an odd difference puts the extra element at the end (crop) or
    /// the extra padding at the end (pad), as the ONNX reference does.
    static func registerCenterCropPad(_ r: inout KernelRegistry) {
        r.register("CenterCropPad", opsets: 18...Int.max) { node, _ in
            let axesAttr = try node.ints("axes")
            return { inputs, _ in
                let x = try inputs.required(0)
                let target = try TensorFamily.ints(try inputs.required(1), "CenterCropPad shape")
                let axes = try TensorFamily.axes(axesAttr ?? Array(0..<x.rank), rank: x.rank, "CenterCropPad axes")
                guard target.count == axes.count, target.allSatisfy({ $0 >= 0 }) else {
                    throw KernelError("CenterCropPad shape \(target) must give a non-negative length for each of the axes \(axes)")
                }
                var outShape = x.shape
                // Per axis: offset of the copied block in the input and in the output, and its length.
                var inStart = [Int](repeating: 0, count: x.rank), outStart = inStart, length = x.shape
                for (a, t) in zip(axes, target) {
                    let dim = x.shape[a]
                    outShape[a] = t
                    if t < dim { inStart[a] = (dim - t) / 2; length[a] = t } else { outStart[a] = (t - dim) / 2 }
                }
                let total = try TensorFamily.count(outShape)
                var indices = [Int](repeating: -1, count: total)
                let inStrides = TensorFamily.strides(x.shape), outStrides = TensorFamily.strides(outShape)
                let copied = try TensorFamily.checkedCount(length)
                var idx = [Int](repeating: 0, count: x.rank)
                for _ in 0..<copied {
                    var src = 0, dst = 0
                    for d in 0..<x.rank { src += (idx[d] + inStart[d]) * inStrides[d]; dst += (idx[d] + outStart[d]) * outStrides[d] }
                    indices[dst] = src
                    var d = x.rank - 1
                    while d >= 0 { idx[d] += 1; if idx[d] < length[d] { break }; idx[d] = 0; d -= 1 }
                }
                let zero = TensorStorage.zeros(x.dtype, count: 1)
                let source = try TensorStorage.concatenate([x.storage, zero])
                return [Tensor(unchecked: outShape, storage: source.gather(indices.map { $0 < 0 ? x.count : $0 }))]
            }
        }
    }
}
