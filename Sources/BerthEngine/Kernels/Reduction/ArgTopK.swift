import BerthONNX
import BerthTensor

/// ArgMax, ArgMin and TopK, computed natively on each numeric type (no widening), so integer
/// inputs compare exactly. NaN handling follows ONNX Runtime: ArgMax/ArgMin use plain
/// comparisons; TopK orders NaN above every number.
extension ReductionFamily {
    /// `a` ranks strictly above `b` in the total order "numbers ascending, NaN last".
    @inline(__always)
    static func above<T: NumericElement>(_ a: T, _ b: T) -> Bool {
        // `x != x` detects NaN for any Comparable numeric type.
        if a != a { return b == b }
        return a > b
    }

    /// The comparison ArgMax/ArgMin use: whether candidate `c` replaces the current best `b`.
    private protocol ArgCompare { static func better<T: Comparable>(_ c: T, _ b: T) -> Bool }
    private enum ArgMaxFirst: ArgCompare { @inline(__always) static func better<T: Comparable>(_ c: T, _ b: T) -> Bool { c > b } }
    private enum ArgMaxLast: ArgCompare { @inline(__always) static func better<T: Comparable>(_ c: T, _ b: T) -> Bool { c >= b } }
    private enum ArgMinFirst: ArgCompare { @inline(__always) static func better<T: Comparable>(_ c: T, _ b: T) -> Bool { c < b } }
    private enum ArgMinLast: ArgCompare { @inline(__always) static func better<T: Comparable>(_ c: T, _ b: T) -> Bool { c <= b } }

    private struct ArgBody: NumericDTypeBody {
        var storage: TensorStorage, outer: Int, r: Int, inner: Int, isMax: Bool, selectLast: Bool, pool: ThreadPool

        func run<T: NumericElement>(_: T.Type) throws -> [Int64] {
            guard let v = T.values(in: storage) else { throw KernelError("internal: dtype mismatch in ArgMax/ArgMin") }
            switch (isMax, selectLast) {
            case (true, false): return scan(v, ArgMaxFirst.self)
            case (true, true): return scan(v, ArgMaxLast.self)
            case (false, false): return scan(v, ArgMinFirst.self)
            case (false, true): return scan(v, ArgMinLast.self)
            }
        }

        /// Plain comparisons from element 0, as ONNX Runtime: a leading NaN sticks, later NaNs never win.
        private func scan<T: NumericElement, C: ArgCompare>(_ v: [T], _: C.Type) -> [Int64] {
            let (r, inner) = (self.r, self.inner)
            var out = [Int64](repeating: 0, count: outer &* inner)
            v.withUnsafeBufferPointer { xb in
                out.withUnsafeMutableBufferPointer { ob in
                    guard let x = xb.baseAddress, let idx = ob.baseAddress else { return }
                    pool.parallelFor(outer, minChunk: max(1, 65536 / max(1, r &* inner))) { range in
                        var best = [T](repeating: T.zero, count: inner)
                        for o in range {
                            let base = x + o &* r &* inner
                            let ob = idx + o &* inner
                            if inner == 1 {
                                var bv = base[0], bi = 0
                                for k in 1..<r {
                                    let c = base[k]
                                    if C.better(c, bv) { bv = c; bi = k }
                                }
                                ob[0] = Int64(bi)
                                continue
                            }
                            for i in 0..<inner {
                                best[i] = base[i]
                                ob[i] = 0
                            }
                            for k in 1..<r {
                                let row = base + k &* inner
                                for i in 0..<inner {
                                    let c = row[i]
                                    if C.better(c, best[i]) { best[i] = c; ob[i] = Int64(k) }
                                }
                            }
                        }
                    }
                }
            }
            return out
        }
    }

    static func argReduce(_ x: Tensor, axis axisAttr: Int, keepDims: Bool, selectLast: Bool, isMax: Bool, pool: ThreadPool) throws -> Tensor {
        let op = isMax ? "ArgMax" : "ArgMin"
        let axis = try TensorFamily.axis(axisAttr, rank: max(x.rank, 1), "\(op) axis")
        let shape = x.rank == 0 ? [1] : x.shape
        let r = shape[axis]
        var outShape = shape
        if keepDims { outShape[axis] = 1 } else { outShape.remove(at: axis) }
        _ = try TensorFamily.count(outShape)
        let outer = TensorFamily.product(shape, 0..<axis), inner = TensorFamily.product(shape, (axis + 1)..<shape.count)
        if outer &* inner == 0 { return Tensor(unchecked: outShape, storage: .int64([])) }
        guard r > 0 else { throw KernelError("\(op) over axis \(axis) of size 0 in shape \(x.shape)") }
        let res = try x.dtype.dispatchNumeric(
            ArgBody(storage: x.storage, outer: outer, r: r, inner: inner, isMax: isMax, selectLast: selectLast, pool: pool), op: op)
        return Tensor(unchecked: outShape, storage: .int64(res))
    }

    private struct TopKBody: NumericDTypeBody {
        var storage: TensorStorage, outer: Int, r: Int, inner: Int, k: Int, largest: Bool, pool: ThreadPool

        func run<T: NumericElement>(_: T.Type) throws -> (TensorStorage, [Int64]) {
            guard let v = T.values(in: storage) else { throw KernelError("internal: dtype mismatch in TopK") }
            let n = outer &* k &* inner
            var values = [T](repeating: T.zero, count: n)
            var indices = [Int64](repeating: 0, count: n)
            let (r, k, inner, largest) = (self.r, self.k, self.inner, self.largest)
            // Strict order: better value first, ties by lower index (as ONNX Runtime).
            @inline(__always) func before(_ a: Int, _ b: Int, _ x: UnsafeBufferPointer<T>, _ base: Int) -> Bool {
                let va = x[base &+ a &* inner], vb = x[base &+ b &* inner]
                if largest ? above(va, vb) : above(vb, va) { return true }
                if largest ? above(vb, va) : above(va, vb) { return false }
                return a < b
            }
            v.withUnsafeBufferPointer { x in
                values.withUnsafeMutableBufferPointer { vb in
                    indices.withUnsafeMutableBufferPointer { ib in
                        guard let vp = vb.baseAddress, let ip = ib.baseAddress else { return }
                        pool.parallelFor(outer &* inner, minChunk: max(1, 4096 / max(1, r))) { range in
                            var order = [Int](repeating: 0, count: r)
                            var top = [Int]()
                            top.reserveCapacity(k)
                            for unit in range {
                                let o = unit / inner, i = unit % inner
                                let base = o &* r &* inner &+ i
                                let picked: ArraySlice<Int>
                                if k <= 64 && k * 4 < r {
                                    // Small k: keep a sorted list of the best k seen so far.
                                    top.removeAll(keepingCapacity: true)
                                    var worst = x[base]
                                    for j in 0..<r {
                                        if top.count == k {
                                            // A later element only enters by being strictly better than the worst kept.
                                            let c = x[base &+ j &* inner]
                                            guard largest ? above(c, worst) : above(worst, c) else { continue }
                                            top.removeLast()
                                        }
                                        var lo = 0, hi = top.count
                                        while lo < hi {
                                            let mid = (lo + hi) / 2
                                            if before(top[mid], j, x, base) { lo = mid + 1 } else { hi = mid }
                                        }
                                        top.insert(j, at: lo)
                                        if let last = top.last { worst = x[base &+ last &* inner] }
                                    }
                                    picked = top[...]
                                } else {
                                    for j in 0..<r { order[j] = j }
                                    order.sort { before($0, $1, x, base) }
                                    picked = order[0..<k]
                                }
                                for (m, j) in picked.enumerated() {
                                    let dst = (o &* k &+ m) &* inner &+ i
                                    vp[dst] = x[base &+ j &* inner]
                                    ip[dst] = Int64(j)
                                }
                            }
                        }
                    }
                }
            }
            return (T.storage(values), indices)
        }
    }

    static func topK(_ x: Tensor, k: Int, axis axisAttr: Int, largest: Bool, pool: ThreadPool) throws -> [Tensor] {
        let axis = try TensorFamily.axis(axisAttr, rank: x.rank, "TopK axis")
        let r = x.shape[axis]
        guard k >= 0 && k <= r else { throw KernelError("TopK k \(k) is out of range for axis \(axis) of size \(r) (shape \(x.shape))") }
        var outShape = x.shape
        outShape[axis] = k
        _ = try TensorFamily.count(outShape)
        let outer = TensorFamily.product(x.shape, 0..<axis), inner = TensorFamily.product(x.shape, (axis + 1)..<x.rank)
        if outer &* inner &* k == 0 {
            return [Tensor(unchecked: outShape, storage: .zeros(x.dtype, count: 0)), Tensor(unchecked: outShape, storage: .int64([]))]
        }
        let (values, indices) = try x.dtype.dispatchNumeric(
            TopKBody(storage: x.storage, outer: outer, r: r, inner: inner, k: k, largest: largest, pool: pool), op: "TopK")
        return [Tensor(unchecked: outShape, storage: values), Tensor(unchecked: outShape, storage: .int64(indices))]
    }

    static func registerArgAndTopK(_ reg: inout KernelRegistry) {
        for isMax in [true, false] {
            reg.register(isMax ? "ArgMax" : "ArgMin") { node, opset in
                let axis = try node.int("axis", default: 0)
                let keep = try node.int("keepdims", default: 1) != 0
                let last = opset >= 12 ? try node.int("select_last_index", default: 0) != 0 : false
                return { inputs, ctx in
                    [try argReduce(try inputs.required(0), axis: axis, keepDims: keep, selectLast: last, isMax: isMax, pool: ctx.pool)]
                }
            }
        }
        reg.register("TopK", opsets: 1...9) { node, _ in
            let axis = try node.int("axis", default: -1)
            let k = try node.int("k")
            return { inputs, ctx in try topK(try inputs.required(0), k: k, axis: axis, largest: true, pool: ctx.pool) }
        }
        reg.register("TopK", opsets: 10...Int.max) { node, opset in
            let axis = try node.int("axis", default: -1)
            let largest = opset >= 11 ? try node.int("largest", default: 1) != 0 : true
            return { inputs, ctx in
                let kt = try TensorFamily.ints(try inputs.required(1), "TopK k")
                guard kt.count == 1, let k = kt.first else { throw KernelError("TopK k must hold one value, got \(kt.count)") }
                return try topK(try inputs.required(0), k: k, axis: axis, largest: largest, pool: ctx.pool)
            }
        }
    }
}
