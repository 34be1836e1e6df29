import BerthTensor

// NumPy multidirectional broadcasting for elementwise kernels.
//
// `BroadcastLayout` turns N input shapes into one loop nest: the broadcast output shape, plus a
// compressed view of it in which output dims of size 1 are dropped and adjacent dims are merged
// whenever every input walks them the same way (contiguously, or broadcast along both). The last
// compressed dim is the inner loop; along it every input has stride 1 or 0. Typical results:
//   [B, S, H] + [H]             -> dims [B*S, H],    strides a [H, 1],  b [0, 1]
//   [B, S, H] - [B, S, 1]       -> dims [B*S, H],    strides a [H, 1],  b [1, 0]
//   [B, h, S, S] + [B, 1, 1, S] -> dims [B, h*S, S], strides b [S, 0, 1]
// `BroadcastRowCursor` walks the rows (all compressed dims but the last) of a chunk, keeping each
// input's start offset up to date with an odometer instead of dividing per row.
// `Broadcast.binary` is the two-input engine the arithmetic, comparison and logical kernels use;
// it picks a tight loop per case (same shape, scalar side, row-broadcast) and splits large work
// over the intra-op pool. The element operation is a `BinaryElementOp` type, not a closure, so the
// optimiser inlines it into each loop.

/// How several input shapes broadcast to one output, in a form ready for loops.
internal struct BroadcastLayout: Sendable {
    /// The broadcast output shape.
    let shape: [Int]
    /// The output element count.
    let count: Int
    /// The compressed iteration dims (see the file comment); never empty, the last is the inner loop.
    let dims: [Int]
    /// Element strides of every input along the compressed dims, input-major:
    /// `strideTable[k * dims.count + d]`; 0 where input `k` is broadcast.
    let strideTable: [Int]
    /// The number of inputs.
    let inputCount: Int

    /// Broadcasts `shapes` together, or throws a ``KernelError`` naming the incompatible shapes.
    init(_ shapes: [[Int]]) throws {
        let rank = shapes.map(\.count).max() ?? 0
        var out = [Int](repeating: 1, count: rank)
        for s in shapes {
            for (i, d) in s.enumerated() {
                let j = i + rank - s.count
                if out[j] == 1 { out[j] = d } else if d != 1 && d != out[j] {
                    throw KernelError("shapes \(shapes.map { "\($0)" }.joined(separator: ", ")) cannot be broadcast together")
                }
            }
        }
        shape = out
        count = try Shape.elementCount(out)
        inputCount = shapes.count

        // Per-input strides over the padded shape, 0 along broadcast dims.
        var padded: [[Int]] = shapes.map { s in
            let p = [Int](repeating: 1, count: rank - s.count) + s
            var st = Shape.strides(p)
            for d in 0..<rank where p[d] == 1 { st[d] = 0 }
            return st
        }
        // Drop output dims of size 1, then merge neighbours walked identically by every input.
        var cdims: [Int] = []
        var cstrides: [[Int]] = Array(repeating: [], count: shapes.count)
        for d in 0..<rank where out[d] != 1 {
            if let last = cdims.last,
               padded.indices.allSatisfy({ k in cstrides[k].last! == padded[k][d] * out[d] }) {
                cdims[cdims.count - 1] = last * out[d]
                for k in padded.indices { cstrides[k][cstrides[k].count - 1] = padded[k][d] }
            } else {
                cdims.append(out[d])
                for k in padded.indices { cstrides[k].append(padded[k][d]) }
            }
        }
        padded.removeAll()
        if cdims.isEmpty {
            cdims = [1]
            cstrides = Array(repeating: [0], count: shapes.count)
        }
        dims = cdims
        strideTable = cstrides.flatMap { $0 }
    }

    /// The length of the inner (contiguous-or-broadcast) loop.
    var inner: Int { dims[dims.count - 1] }
    /// The number of inner loops: the product of all compressed dims but the last.
    var rows: Int { dims.count > 1 ? count / max(1, inner) : (count == 0 ? 0 : 1) }
    /// The stride (0 or 1) of input `k` along the inner loop.
    func innerStride(_ k: Int) -> Int { strideTable[k * dims.count + dims.count - 1] }
}

/// Walks consecutive rows of a ``BroadcastLayout``, tracking where each input's row starts.
internal struct BroadcastRowCursor {
    /// The start offset of the current row in each input.
    private(set) var offsets: [Int]
    private var index: [Int]
    private let dims: [Int]
    private let strides: [Int]
    private let rank: Int
    private let outer: Int

    /// A cursor at row `row` (rows are numbered row-major over all compressed dims but the last).
    init(_ layout: BroadcastLayout, row: Int) {
        dims = layout.dims
        strides = layout.strideTable
        rank = dims.count
        outer = rank - 1
        index = [Int](repeating: 0, count: max(outer, 0))
        offsets = [Int](repeating: 0, count: layout.inputCount)
        var r = row
        var d = outer - 1
        while d >= 0 {
            index[d] = r % dims[d]
            r /= dims[d]
            d -= 1
        }
        for k in 0..<layout.inputCount {
            var o = 0
            for d in 0..<outer { o += index[d] * strides[k * rank + d] }
            offsets[k] = o
        }
    }

    /// Moves to the next row.
    @inline(__always)
    mutating func advance() {
        var d = outer - 1
        while d >= 0 {
            index[d] += 1
            for k in 0..<offsets.count { offsets[k] += strides[k * rank + d] }
            if index[d] < dims[d] { return }
            for k in 0..<offsets.count { offsets[k] -= strides[k * rank + d] * dims[d] }
            index[d] = 0
            d -= 1
        }
    }
}

/// An elementwise operation of two inputs, as a type so generic loops specialise and inline it.
internal protocol BinaryElementOp {
    associatedtype Lhs
    associatedtype Rhs
    associatedtype Out: TensorElement
    static func apply(_ a: Lhs, _ b: Rhs) -> Out
    /// The minimum number of elements worth handing to another thread.
    static var grain: Int { get }
}

extension BinaryElementOp {
    static var grain: Int { 1 << 15 }
}

/// The broadcasting engine shared by elementwise kernels.
internal enum Broadcast {
    /// The NumPy broadcast of `shapes`, or a ``KernelError``.
    static func shape(_ shapes: [[Int]]) throws -> [Int] {
        try BroadcastLayout(shapes).shape
    }

    /// Applies `Op` elementwise to `a` and `b` broadcast together. `a` and `b` must hold exactly
    /// as many elements as their shapes say (true for tensor storage).
    static func binary<Op: BinaryElementOp>(
        _: Op.Type, _ a: [Op.Lhs], _ aShape: [Int], _ b: [Op.Rhs], _ bShape: [Int], pool: ThreadPool
    ) throws -> Tensor {
        let layout = try BroadcastLayout([aShape, bShape])
        let n = layout.count
        guard n > 0 else { return Tensor(unchecked: layout.shape, storage: Op.Out.storage([])) }
        let out = [Op.Out](unsafeUninitializedCapacity: n) { buf, initialized in
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    binaryLoops(Op.self, pa.baseAddress!, pa.count, pb.baseAddress!, pb.count,
                                buf.baseAddress!, layout, pool)
                }
            }
            initialized = n
        }
        return Tensor(unchecked: layout.shape, storage: Op.Out.storage(out))
    }

    /// The loops behind ``binary``; `o` has room for `layout.count` elements.
    @inline(__always)
    static func binaryLoops<Op: BinaryElementOp>(
        _: Op.Type, _ pa: UnsafePointer<Op.Lhs>, _ aCount: Int, _ pb: UnsafePointer<Op.Rhs>, _ bCount: Int,
        _ o: UnsafeMutablePointer<Op.Out>, _ layout: BroadcastLayout, _ pool: ThreadPool
    ) {
        let n = layout.count
        let grain = Op.grain
        if aCount == n && bCount == n {
            pool.parallelFor(n, minChunk: grain) { r in
                for i in r { (o + i).initialize(to: Op.apply(pa[i], pb[i])) }
            }
        } else if bCount == 1 {
            let s = pb[0]
            pool.parallelFor(n, minChunk: grain) { r in
                for i in r { (o + i).initialize(to: Op.apply(pa[i], s)) }
            }
        } else if aCount == 1 {
            let s = pa[0]
            pool.parallelFor(n, minChunk: grain) { r in
                for i in r { (o + i).initialize(to: Op.apply(s, pb[i])) }
            }
        } else {
            let inner = layout.inner
            let sa = layout.innerStride(0), sb = layout.innerStride(1)
            pool.parallelFor(layout.rows, minChunk: max(1, grain / max(1, inner))) { rows in
                var cursor = BroadcastRowCursor(layout, row: rows.lowerBound)
                for row in rows {
                    let xa = pa + cursor.offsets[0], xb = pb + cursor.offsets[1]
                    let xo = o + row * inner
                    if sa != 0 && sb != 0 {
                        for i in 0..<inner { (xo + i).initialize(to: Op.apply(xa[i], xb[i])) }
                    } else if sa != 0 {
                        let s = xb[0]
                        for i in 0..<inner { (xo + i).initialize(to: Op.apply(xa[i], s)) }
                    } else if sb != 0 {
                        let s = xa[0]
                        for i in 0..<inner { (xo + i).initialize(to: Op.apply(s, xb[i])) }
                    } else {
                        let v = Op.apply(xa[0], xb[0])
                        (xo).initialize(repeating: v, count: inner)
                    }
                    cursor.advance()
                }
            }
        }
    }

    /// Expands `values` of shape `from` to shape `to` (unidirectional broadcast), or throws when
    /// `from` does not broadcast to exactly `to`.
    static func expand<T>(_ values: [T], from: [Int], to: [Int]) throws -> [T] {
        let layout = try BroadcastLayout([from, to])
        guard layout.shape == to else { throw KernelError("shape \(from) cannot be broadcast to \(to)") }
        let n = layout.count
        if values.count == n { return values }
        guard n > 0 else { return [] }
        return [T](unsafeUninitializedCapacity: n) { buf, initialized in
            values.withUnsafeBufferPointer { src in
                let o = buf.baseAddress!
                let inner = layout.inner
                let stride = layout.innerStride(0)
                var cursor = BroadcastRowCursor(layout, row: 0)
                for row in 0..<layout.rows {
                    let x = src.baseAddress! + cursor.offsets[0]
                    let xo = o + row * inner
                    if stride != 0 { xo.initialize(from: x, count: inner) } else { xo.initialize(repeating: x[0], count: inner) }
                    cursor.advance()
                }
            }
            initialized = n
        }
    }
}
