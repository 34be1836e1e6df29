import BerthONNX
import BerthTensor

extension KernelRegistry {
    /// SplitToSequence and ConcatFromSequence (opset 11 on, unchanged since): Split and Concat
    /// with a sequence in place of the node's variadic outputs or inputs.
    mutating func registerSequenceSplitConcat() {
        register("SplitToSequence", opsets: 11...Int.max) { node, _, _ in
            let axisAttr = try node.int("axis", default: 0)
            let keepdims = try node.int("keepdims", default: 1) != 0
            return { inputs, ctx in
                let x = try inputs.requiredTensor(0)
                guard x.rank > 0 else { throw KernelError("SplitToSequence needs a tensor of rank >= 1, got a scalar") }
                let axis = try TensorFamily.axis(axisAttr, rank: x.rank, "SplitToSequence axis")
                let dim = x.shape[axis]
                var lengths: [Int]
                var squeeze = false
                if let split = try inputs.optionalTensor(1) {
                    let v = try TensorFamily.ints(split, "SplitToSequence split")
                    if split.rank == 0 {
                        guard let chunk = v.first, chunk > 0 else { throw KernelError("SplitToSequence split must be positive, got \(v)") }
                        lengths = [Int](repeating: chunk, count: dim / chunk)
                        if dim % chunk != 0 { lengths.append(dim % chunk) }
                    } else {
                        guard split.rank == 1 else { throw KernelError("SplitToSequence split must be a scalar or 1-D, got shape \(split.shape)") }
                        lengths = v
                    }
                } else {
                    // No split: pieces of length 1, with the axis dropped unless keepdims.
                    lengths = [Int](repeating: 1, count: dim)
                    squeeze = !keepdims
                }
                var parts = try TensorFamily.split(x, axis: axis, lengths: lengths, pool: ctx.pool)
                if squeeze {
                    var shape = x.shape
                    shape.remove(at: axis)
                    parts = try parts.map { try $0.reshaped(shape) }
                }
                return [.sequence(try TensorSequence(elementType: x.dtype, tensors: parts))]
            }
        }
        register("ConcatFromSequence", opsets: 11...Int.max) { node, _, _ in
            let axisAttr = try node.int("axis")
            let newAxis = try node.int("new_axis", default: 0) != 0
            return { inputs, ctx in
                let s = try inputs.requiredSequence(0)
                guard let first = s.tensors.first else { throw KernelError("ConcatFromSequence: the sequence is empty") }
                guard newAxis else { return [.tensor(try TensorFamily.concat(s.tensors, axis: axisAttr, pool: ctx.pool))] }
                // Stacking: a new axis of length 1 on every tensor, then Concat along it; the axis
                // may be -rank-1 ... rank.
                let axis = try TensorFamily.axis(axisAttr, rank: first.rank + 1, "ConcatFromSequence axis")
                let stacked = try s.tensors.map { t -> Tensor in
                    var shape = t.shape
                    shape.insert(1, at: min(axis, shape.count))
                    return try t.reshaped(shape)
                }
                return [.tensor(try TensorFamily.concat(stacked, axis: axis, pool: ctx.pool))]
            }
        }
    }
}
