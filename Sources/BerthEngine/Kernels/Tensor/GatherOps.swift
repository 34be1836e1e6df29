import BerthONNX
import BerthTensor

/// Gather, GatherElements and GatherND. Indices come from user data, so each one is range-checked
/// (negative ones count from the end) before it becomes a source offset.
extension TensorFamily {
    @inline(__always)
    static func checkedIndex(_ i: Int, dim: Int, _ op: String) throws -> Int {
        let j = i < 0 ? i &+ dim : i
        guard j >= 0 && j < dim else { throw KernelError("\(op) index \(i) is out of range for dimension \(dim)") }
        return j
    }

    static func gatherAxis(_ data: Tensor, _ indices: Tensor, axis axisAttr: Int, pool: ThreadPool) throws -> Tensor {
        let axis = try TensorFamily.axis(axisAttr, rank: data.rank, "Gather axis")
        let dim = data.shape[axis]
        let idx = try ints(indices, "Gather indices")
        let inner = product(data.shape, (axis + 1)..<data.rank)
        var table = [Int](repeating: 0, count: idx.count)
        for (k, i) in idx.enumerated() { table[k] = try checkedIndex(i, dim: dim, "Gather") &* inner }
        let outShape = Array(data.shape[..<axis]) + indices.shape + Array(data.shape[(axis + 1)...])
        _ = try count(outShape)
        let outer = product(data.shape, 0..<axis)
        return try gather(data.storage, dims: [outer, idx.count, inner],
                          axes: [.affine(offset: 0, stride: dim &* inner), .table(table), .affine(offset: 0, stride: 1)],
                          outShape: outShape, pool: pool)
    }

    static func gatherElements(_ data: Tensor, _ indices: Tensor, axis axisAttr: Int) throws -> Tensor {
        let r = data.rank
        let axis = try TensorFamily.axis(axisAttr, rank: r, "GatherElements axis")
        guard indices.rank == r else {
            throw KernelError("GatherElements indices rank \(indices.rank) differs from data rank \(r)")
        }
        let offsets = try elementOffsets(data, indices, axis: axis, "GatherElements")
        return Tensor(unchecked: indices.shape, storage: data.storage.gather(offsets))
    }

    /// The flat offset in `data` of every element `indices` names along `axis` (the other axes
    /// taken from the element's own position), as GatherElements and ScatterElements read them.
    /// `indices` must have the data's rank; it may not exceed the data on any other axis.
    static func elementOffsets(_ data: Tensor, _ indices: Tensor, axis: Int, _ op: String) throws -> [Int] {
        let r = data.rank
        for k in 0..<r where k != axis && indices.shape[k] > data.shape[k] {
            throw KernelError("\(op) indices shape \(indices.shape) exceeds data shape \(data.shape) on axis \(k)")
        }
        let idx = try ints(indices, "\(op) indices")
        let dataStrides = TensorFamily.strides(data.shape)
        let dim = data.shape[axis]
        var offsets = [Int](repeating: 0, count: idx.count)
        var pos = [Int](repeating: 0, count: r)
        for n in 0..<idx.count {
            var off = 0
            for k in 0..<r where k != axis { off &+= pos[k] &* dataStrides[k] }
            off &+= try checkedIndex(idx[n], dim: dim, op) &* dataStrides[axis]
            offsets[n] = off
            var k = r - 1
            while k >= 0 {
                pos[k] += 1
                if pos[k] < indices.shape[k] { break }
                pos[k] = 0
                k -= 1
            }
        }
        return offsets
    }

    static func gatherND(_ data: Tensor, _ indices: Tensor, batchDims b: Int, pool: ThreadPool) throws -> Tensor {
        let r = data.rank, q = indices.rank
        guard q >= 1, b >= 0, b < min(r, q) else {
            throw KernelError("GatherND batch_dims \(b) is invalid for data rank \(r) and indices rank \(q)")
        }
        guard Array(data.shape[..<b]) == Array(indices.shape[..<b]) else {
            throw KernelError("GatherND batch dimensions differ: data \(data.shape), indices \(indices.shape)")
        }
        let m = indices.shape[q - 1]
        guard m >= 1, b + m <= r else {
            throw KernelError("GatherND index depth \(m) is invalid for data rank \(r) with batch_dims \(b)")
        }
        let idx = try ints(indices, "GatherND indices")
        let strides = TensorFamily.strides(data.shape)
        let slice = product(data.shape, (b + m)..<r)
        let batch = product(data.shape, 0..<b)
        let batchStride = b > 0 ? strides[b - 1] : 0
        let tuples = idx.count / m
        let perBatch = batch > 0 ? tuples / batch : 0
        var table = [Int](repeating: 0, count: tuples)
        for t in 0..<tuples {
            var off = perBatch > 0 ? (t / perBatch) &* batchStride : 0
            for j in 0..<m {
                off &+= try checkedIndex(idx[t &* m &+ j], dim: data.shape[b + j], "GatherND") &* strides[b + j]
            }
            table[t] = off
        }
        let outShape = Array(indices.shape[..<(q - 1)]) + Array(data.shape[(b + m)...])
        _ = try count(outShape)
        return try gather(data.storage, dims: [tuples, slice], axes: [.table(table), .affine(offset: 0, stride: 1)],
                          outShape: outShape, pool: pool)
    }

    static func registerGatherOps(_ r: inout KernelRegistry) {
        r.register("Gather") { node, _ in
            let axis = try node.int("axis", default: 0)
            return { inputs, ctx in [try gatherAxis(try inputs.required(0), try inputs.required(1), axis: axis, pool: ctx.pool)] }
        }
        r.register("GatherElements", opsets: 11...Int.max) { node, _ in
            let axis = try node.int("axis", default: 0)
            return { inputs, _ in [try gatherElements(try inputs.required(0), try inputs.required(1), axis: axis)] }
        }
        r.register("GatherND", opsets: 11...Int.max) { node, _ in
            let batchDims = try node.int("batch_dims", default: 0)
            return { inputs, ctx in
                [try gatherND(try inputs.required(0), try inputs.required(1), batchDims: batchDims, pool: ctx.pool)]
            }
        }
    }
}
