import BerthONNX
import BerthTensor

/// ReverseSequence: for each batch entry, reverses its first `sequence_lens[b]` steps along the
/// time axis and leaves the rest in place.
extension TensorFamily {
    static func reverseSequence(_ x: Tensor, _ lengths: Tensor, batchAxis: Int, timeAxis: Int) throws -> Tensor {
        guard x.rank >= 2 else { throw KernelError("ReverseSequence needs an input of rank 2 or more, got shape \(x.shape)") }
        guard (batchAxis == 0 && timeAxis == 1) || (batchAxis == 1 && timeAxis == 0) else {
            throw KernelError("ReverseSequence batch_axis \(batchAxis) and time_axis \(timeAxis) must be 0 and 1 in some order")
        }
        let lens = try ints(lengths, "ReverseSequence sequence_lens")
        let batch = x.shape[batchAxis], time = x.shape[timeAxis]
        guard lengths.rank == 1, lens.count == batch else {
            throw KernelError("ReverseSequence sequence_lens must have one entry per batch entry (\(batch)), got shape \(lengths.shape)")
        }
        for l in lens where l < 0 || l > time {
            throw KernelError("ReverseSequence sequence length \(l) is outside 0...\(time)")
        }
        let n = try count(x.shape)
        let strides = TensorFamily.strides(x.shape)
        let inner = product(x.shape, 2..<x.rank)
        var offsets = [Int](repeating: 0, count: n)
        // The first two axes are batch and time in some order; the rest are copied as rows.
        for a in 0..<x.shape[0] {
            for c in 0..<x.shape[1] {
                let (b, t) = batchAxis == 0 ? (a, c) : (c, a)
                let st = t < lens[b] ? lens[b] - 1 - t : t
                let src = batchAxis == 0 ? b * strides[0] + st * strides[1] : st * strides[0] + b * strides[1]
                let dst = a * strides[0] + c * strides[1]
                for i in 0..<inner { offsets[dst + i] = src + i }
            }
        }
        return Tensor(unchecked: x.shape, storage: x.storage.gather(offsets))
    }

    static func registerReverseSequence(_ r: inout KernelRegistry) {
        r.register("ReverseSequence", opsets: 10...Int.max) { node, _ in
            let batchAxis = try node.int("batch_axis", default: 1), timeAxis = try node.int("time_axis", default: 0)
            return { inputs, _ in
                [try reverseSequence(try inputs.required(0), try inputs.required(1), batchAxis: batchAxis, timeAxis: timeAxis)]
            }
        }
    }
}
