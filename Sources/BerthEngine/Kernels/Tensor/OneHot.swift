import BerthONNX
import BerthTensor

/// OneHot: a new axis of length `depth` holding values[1] where it equals the index and values[0]
/// elsewhere. Indices outside [-depth, depth) give an all-off row (negative ones count from the
/// end from opset 11).
extension TensorFamily {
    static func oneHot(_ indices: Tensor, depth depthTensor: Tensor, values: Tensor, axis axisAttr: Int, negative: Bool) throws -> Tensor {
        guard indices.dtype != .string, indices.dtype != .bool, depthTensor.count == 1, depthTensor.dtype != .string else {
            throw KernelError("OneHot needs numeric indices and a one-element numeric depth")
        }
        let d = depthTensor.storage.double(at: 0)
        guard d >= 1, d < 1e12 else { throw KernelError("OneHot depth \(d) must be positive") }
        let depth = Int(d)
        guard values.count == 2 else { throw KernelError("OneHot values must have 2 elements (off, on), got \(values.count)") }
        let r = indices.rank + 1
        let axis = try TensorFamily.axis(axisAttr, rank: r, "OneHot axis")
        var outShape = indices.shape
        outShape.insert(depth, at: axis)
        let n = try count(outShape)
        let inner = product(indices.shape, axis..<indices.rank)
        // Offsets into `values`: 0 for off, 1 for on.
        var pick = [Int](repeating: 0, count: n)
        for i in 0..<indices.count {
            var v = indices.storage.double(at: i)
            if v < 0 && negative { v += Double(depth) }
            guard v >= 0, v < Double(depth) else { continue }
            let o = i / inner, in_ = i % inner
            pick[(o * depth + Int(v)) * inner + in_] = 1
        }
        return Tensor(unchecked: outShape, storage: values.storage.gather(pick))
    }

    static func registerOneHot(_ r: inout KernelRegistry) {
        for (range, negative) in [(9...10, false), (11...Int.max, true)] {
            r.register("OneHot", opsets: range) { node, _ in
                let axis = try node.int("axis", default: -1)
                return { inputs, _ in
                    [try oneHot(try inputs.required(0), depth: try inputs.required(1), values: try inputs.required(2), axis: axis,
                                negative: negative)]
                }
            }
        }
    }
}
