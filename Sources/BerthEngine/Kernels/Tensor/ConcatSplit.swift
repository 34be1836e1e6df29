import BerthONNX
import BerthTensor

/// Concat copies, for each outer index, one contiguous block from each input in turn.
private struct TFConcat: DTypeBody {
    var parts: [TensorStorage]
    /// Elements per outer index contributed by each part.
    var blocks: [Int]
    var outer: Int
    var total: Int
    var pool: ThreadPool

    func run<T: TensorElement>(_: T.Type) throws -> TensorStorage {
        var arrays: [[T]] = []
        arrays.reserveCapacity(parts.count)
        for p in parts {
            guard let v = T.values(in: p) else { throw KernelError("Concat inputs must share one dtype, got \(T.dtype) and \(p.dtype)") }
            arrays.append(v)
        }
        if total == 0 { return T.storage([]) }
        let rowLen = blocks.reduce(0, +)
        let out = [T](unsafeUninitializedCapacity: total) { buf, n in
            guard let o = buf.baseAddress else { n = 0; return }
            // Keep the source buffers alive and addressable for the parallel copy.
            func copyAll(_ i: Int, _ ptrs: [UnsafePointer<T>?]) {
                if i < arrays.count {
                    arrays[i].withUnsafeBufferPointer { copyAll(i + 1, ptrs + [$0.baseAddress]) }
                    return
                }
                pool.parallelFor(outer, minChunk: max(1, 16384 / max(1, rowLen))) { range in
                    for row in range {
                        var dst = o + row &* rowLen
                        for (k, b) in blocks.enumerated() where b > 0 {
                            if let s = ptrs[k] { dst.initialize(from: s + row &* b, count: b) }
                            dst += b
                        }
                    }
                }
            }
            copyAll(0, [])
            n = total
        }
        return T.storage(out)
    }
}

extension TensorFamily {
    static func concat(_ xs: [Tensor], axis axisAttr: Int, pool: ThreadPool) throws -> Tensor {
        guard let first = xs.first else { throw KernelError("Concat needs at least one input") }
        let r = first.rank
        let axis = try TensorFamily.axis(axisAttr, rank: r, "Concat axis")
        var outShape = first.shape
        outShape[axis] = 0
        for x in xs {
            guard x.dtype == first.dtype else { throw KernelError("Concat inputs must share one dtype, got \(first.dtype) and \(x.dtype)") }
            guard x.rank == r, (0..<r).allSatisfy({ $0 == axis || x.shape[$0] == first.shape[$0] }) else {
                throw KernelError("Concat inputs have incompatible shapes \(first.shape) and \(x.shape) on axis \(axis)")
            }
            let (s, o) = outShape[axis].addingReportingOverflow(x.shape[axis])
            guard !o else { throw KernelError("Concat output is too large") }
            outShape[axis] = s
        }
        if xs.count == 1 { return first }
        let total = try count(outShape)
        let outer = product(first.shape, 0..<axis)
        let inner = product(first.shape, (axis + 1)..<r)
        let blocks = xs.map { $0.shape[axis] &* inner }
        let storage = try first.dtype.dispatch(
            TFConcat(parts: xs.map(\.storage), blocks: blocks, outer: outer, total: total, pool: pool))
        return Tensor(unchecked: outShape, storage: storage)
    }

    /// Splits `x` along `axis` into pieces of the given lengths.
    static func split(_ x: Tensor, axis axisAttr: Int, lengths: [Int], pool: ThreadPool) throws -> [Tensor] {
        let axis = try TensorFamily.axis(axisAttr, rank: x.rank, "Split axis")
        let dim = x.shape[axis]
        guard lengths.allSatisfy({ $0 >= 0 }), lengths.reduce(0, { $0 &+ $1 }) == dim else {
            throw KernelError("Split lengths \(lengths) do not add up to dimension \(dim) of axis \(axis) (shape \(x.shape))")
        }
        let outer = product(x.shape, 0..<axis)
        let inner = product(x.shape, (axis + 1)..<x.rank)
        let rowLen = dim &* inner
        var start = 0
        var outs: [Tensor] = []
        for len in lengths {
            var shape = x.shape
            shape[axis] = len
            let axes: [TFAxis] = [.affine(offset: start &* inner, stride: rowLen), .affine(offset: 0, stride: 1)]
            outs.append(try gather(x.storage, dims: [outer, len &* inner], axes: axes, outShape: shape, pool: pool))
            start += len
        }
        return outs
    }

    /// Equal split into `n` parts; the last part is smaller when `dim` is not divisible (opset 18).
    static func equalSplit(dim: Int, parts n: Int, allowUneven: Bool) throws -> [Int] {
        guard n > 0 else { throw KernelError("Split needs at least one output") }
        if dim % n == 0 { return [Int](repeating: dim / n, count: n) }
        guard allowUneven else { throw KernelError("Split cannot divide dimension \(dim) into \(n) equal parts") }
        let chunk = (dim + n - 1) / n
        return (0..<n).map { i in max(0, min(chunk, dim - i * chunk)) }
    }

    static func registerConcatSplit(_ r: inout KernelRegistry) {
        r.register("Concat") { node, opset in
            let axis = try opset < 4 ? node.int("axis", default: 1) : node.int("axis")
            return { inputs, ctx in
                let xs = inputs.compactMap { $0 }
                return [try concat(xs, axis: axis, pool: ctx.pool)]
            }
        }

        r.register("Split") { node, opset in
            let axis = try node.int("axis", default: 0)
            let splitAttr = opset < 13 ? try node.ints("split") : nil
            let numOutputs = opset >= 18 ? try node.int("num_outputs", default: 0) : 0
            let outputs = node.outputs.count
            return { inputs, ctx in
                let x = try inputs.required(0)
                let a = try TensorFamily.axis(axis, rank: x.rank, "Split axis")
                var lengths: [Int]
                if opset < 2 || opset >= 13, let s = inputs.optional(1) {
                    lengths = try ints(s, "Split split")
                } else if let s = splitAttr {
                    lengths = s
                } else {
                    let n = numOutputs > 0 ? numOutputs : outputs
                    lengths = try equalSplit(dim: x.shape[a], parts: n, allowUneven: opset >= 18)
                }
                guard lengths.count == outputs || outputs == 0 else {
                    throw KernelError("Split has \(outputs) outputs but split lengths \(lengths)")
                }
                return try split(x, axis: a, lengths: lengths, pool: ctx.pool)
            }
        }
    }
}
