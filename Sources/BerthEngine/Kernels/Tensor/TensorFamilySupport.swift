import BerthONNX
import BerthTensor
import Foundation

/// Helpers shared by the tensor and reduction kernels.
enum TensorFamily {
    /// The integer elements of a shape/axes/index tensor, with a kernel error naming `what`.
    static func ints(_ t: Tensor, _ what: String) throws -> [Int] {
        do { return try t.integers() } catch {
            throw KernelError("\(what) must be an integer tensor, got \(t.dtype)")
        }
    }

    /// `axis` normalised against `rank` (negative counts from the end), or a kernel error.
    static func axis(_ axis: Int, rank: Int, _ what: String = "axis") throws -> Int {
        guard let a = Shape.normalizeAxis(axis, rank: rank) else {
            throw KernelError("\(what) \(axis) is out of range for rank \(rank)")
        }
        return a
    }

    /// Distinct normalised axes in the given order, or a kernel error for out-of-range or repeated ones.
    static func axes(_ axes: [Int], rank: Int, _ what: String = "axes") throws -> [Int] {
        var seen = [Bool](repeating: false, count: rank)
        var out: [Int] = []
        out.reserveCapacity(axes.count)
        for a in axes {
            let n = try axis(a, rank: rank, what)
            guard !seen[n] else { throw KernelError("\(what) \(axes) repeat axis \(n)") }
            seen[n] = true
            out.append(n)
        }
        return out
    }

    /// The largest output a shape kernel will allocate. Shapes come from model data or feeds (and
    /// constant folding runs these kernels at load), so an absurd one must become an error rather
    /// than an allocation failure or the OOM killer: the running session's
    /// ``RunLimits/maxTensorElements``.
    static var maxElements: Int { RunLimits.active.maxTensorElements }

    /// The element count of an output shape, as a kernel error when it is negative, overflows or
    /// exceeds ``maxElements``.
    static func count(_ shape: [Int]) throws -> Int {
        let n: Int
        do { n = try Shape.elementCount(shape) } catch {
            throw KernelError("invalid output shape \(shape): \(error)")
        }
        guard n <= maxElements else { throw KernelError("output shape \(shape) has \(n) elements, more than the limit \(maxElements) (RunLimits.maxTensorElements)") }
        return n
    }

    /// The element count of a shape that need not be allocated (e.g. part of an input shape).
    static func checkedCount(_ shape: [Int]) throws -> Int {
        do { return try Shape.elementCount(shape) } catch { throw KernelError("invalid shape \(shape): \(error)") }
    }

    /// Row-major strides with wrapping arithmetic: a valid empty tensor such as [0, 2^40, 2^40] has
    /// strides that overflow, but they are never used to address memory because it has no elements.
    static func strides(_ shape: [Int]) -> [Int] {
        var s = [Int](repeating: 1, count: shape.count)
        var acc = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) {
            s[i] = acc
            acc = acc &* shape[i]
        }
        return s
    }

    /// Product of `shape[range]` for a shape that is already known to be valid.
    static func product(_ shape: [Int], _ range: Range<Int>) -> Int {
        var p = 1
        for i in range { p &*= shape[i] }
        return p
    }
}

// MARK: - Strided gather engine

/// Where one output axis reads from: `offset + i * stride` or an explicit table of source offsets,
/// in which a negative entry means "use the fill value" (Pad's constant border).
enum TFAxis: Sendable {
    case affine(offset: Int, stride: Int)
    case table([Int])

    @inline(__always) func entry(_ i: Int) -> Int {
        switch self {
        case let .affine(o, s): return o &+ i &* s
        case let .table(t): return t[i]
        }
    }
}

/// Copies `out[i0, ..., ik] = src[sum of axes[j].entry(ij)]`. Transpose, Slice, Expand, Tile, Pad,
/// Split and Gather are all this one loop with different axis tables, so every dtype (including
/// string and bool) shares one well-optimised path. Offsets must be valid for `src`: callers build
/// them from checked shapes and indices.
struct TFStridedGather: DTypeBody {
    var source: TensorStorage
    var dims: [Int]
    var axes: [TFAxis]
    /// One-element storage of the source dtype used where a table entry is negative, or nil for zero.
    var fill: TensorStorage?
    var pool: ThreadPool

    func run<T: TensorElement>(_: T.Type) throws -> TensorStorage {
        guard let src = T.values(in: source) else {
            throw KernelError("internal: storage is \(source.dtype), expected \(T.dtype)")
        }
        let fillValue = fill.flatMap { T.values(in: $0)?.first } ?? T.zero
        return T.storage(TFStridedGather.copy(src, dims: dims, axes: axes, fill: fillValue, pool: pool))
    }

    /// Drops unit axes, turns affine-looking tables into affine axes and merges neighbouring affine
    /// axes, so the innermost loop runs over the longest possible contiguous run.
    static func simplify(dims: [Int], axes: [TFAxis]) -> (dims: [Int], axes: [TFAxis], base: Int, allFill: Bool) {
        var base = 0
        var allFill = false
        var d: [Int] = []
        var a: [TFAxis] = []
        for (n, ax) in zip(dims, axes) {
            if n == 1 {
                let e = ax.entry(0)
                if e < 0 { allFill = true } else { base &+= e }
                continue
            }
            var axis = ax
            if case let .table(t) = ax, t.count >= 2, t[0] >= 0 {
                let s = t[1] &- t[0]
                var affine = true
                for i in 1..<t.count where t[i] != t[0] &+ i &* s || t[i] < 0 { affine = false; break }
                if affine { axis = .affine(offset: t[0], stride: s) }
            }
            // Merge with the previous (outer) axis when both are affine and the outer stride
            // equals the inner stride times the inner length.
            if case let .affine(o1, s1) = axis, let lastAxis = a.last, case let .affine(o0, s0) = lastAxis,
               let lastDim = d.last, s0 == s1 &* n {
                a[a.count - 1] = .affine(offset: o0 &+ o1, stride: s1)
                d[d.count - 1] = lastDim &* n
                continue
            }
            d.append(n)
            a.append(axis)
        }
        return (d, a, base, allFill)
    }

    static func copy<T>(_ src: [T], dims rawDims: [Int], axes rawAxes: [TFAxis], fill: T, pool: ThreadPool) -> [T] {
        var count = 1
        for n in rawDims { count &*= n }
        if count == 0 { return [] }
        let (dims, axes, base, allFill) = simplify(dims: rawDims, axes: rawAxes)
        if allFill { return [T](repeating: fill, count: count) }
        if dims.isEmpty { return [src[base]] }
        return src.withUnsafeBufferPointer { sp in
            [T](unsafeUninitializedCapacity: count) { out, initialized in
                guard let s = sp.baseAddress, let o = out.baseAddress else { initialized = 0; return }
                // The dtype dispatch reaches here with T unspecialized, so every element would go
                // through T's value witnesses (a [1,192,196] transpose took 0.11 ms, ORT 0.006):
                // trivial types run the loops on an unsigned integer of their size instead.
                let done: Bool
                switch _isPOD(T.self) && MemoryLayout<T>.size == MemoryLayout<T>.stride ? MemoryLayout<T>.size : 0 {
                case 8: done = copyBits(s, o, dims: dims, axes: axes, base: base, fill: unsafeBitCast(fill, to: UInt64.self), pool: pool)
                case 4: done = copyBits(s, o, dims: dims, axes: axes, base: base, fill: unsafeBitCast(fill, to: UInt32.self), pool: pool)
                case 2: done = copyBits(s, o, dims: dims, axes: axes, base: base, fill: unsafeBitCast(fill, to: UInt16.self), pool: pool)
                case 1: done = copyBits(s, o, dims: dims, axes: axes, base: base, fill: unsafeBitCast(fill, to: UInt8.self), pool: pool)
                default: done = false
                }
                if !done, !tiledTranspose(s, o, dims: dims, axes: axes, base: base, pool: pool) {
                    rows(s, o, dims: dims, axes: axes, base: base, fill: fill, pool: pool)
                }
                initialized = count
            }
        }
    }

    /// The copy loops on `U`, an unsigned integer of the trivial element type's size (`fill` is the
    /// element's bits); generic only in `U`, so each call site's loops are specialized. True.
    private static func copyBits<U>(_ s: UnsafeRawPointer, _ o: UnsafeMutableRawPointer, dims: [Int], axes: [TFAxis],
                                    base: Int, fill: U, pool: ThreadPool) -> Bool {
        let su = s.assumingMemoryBound(to: U.self), ou = o.assumingMemoryBound(to: U.self)
        if !tiledTranspose(su, ou, dims: dims, axes: axes, base: base, pool: pool) {
            rows(su, ou, dims: dims, axes: axes, base: base, fill: fill, pool: pool)
        }
        return true
    }

    /// Row loop: the outer axes walk an odometer with running partial offsets; the inner axis is a
    /// contiguous copy, a strided copy or a table lookup.
    private static func rows<T>(_ s: UnsafePointer<T>, _ o: UnsafeMutablePointer<T>, dims: [Int], axes: [TFAxis],
                                base: Int, fill: T, pool: ThreadPool) {
        let r = dims.count
        let len = dims[r - 1]
        let inner = axes[r - 1]
        var rowCount = 1
        for k in 0..<(r - 1) { rowCount &*= dims[k] }
        pool.parallelFor(rowCount, minChunk: max(1, 16384 / max(1, len))) { range in
            var idx = [Int](repeating: 0, count: max(0, r - 1))
            var rem = range.lowerBound
            for k in stride(from: r - 2, through: 0, by: -1) {
                idx[k] = rem % dims[k]
                rem /= dims[k]
            }
            // partial[k] = source offset of axes 0..<k; negative means this row is fill.
            var partial = [Int](repeating: base, count: r)
            for k in 0..<(r - 1) {
                let e = axes[k].entry(idx[k])
                partial[k + 1] = (partial[k] < 0 || e < 0) ? -1 : partial[k] &+ e
            }
            for row in range {
                let off = partial[r - 1]
                let dst = o + row &* len
                if off < 0 {
                    dst.initialize(repeating: fill, count: len)
                } else {
                    switch inner {
                    case let .affine(io, 1):
                        dst.initialize(from: s + (off &+ io), count: len)
                    case let .affine(io, st):
                        let p = s + (off &+ io)
                        for j in 0..<len { (dst + j).initialize(to: p[j &* st]) }
                    case let .table(t):
                        t.withUnsafeBufferPointer { tp in
                            for j in 0..<len {
                                let e = tp[j]
                                (dst + j).initialize(to: e < 0 ? fill : s[off &+ e])
                            }
                        }
                    }
                }
                // Advance the odometer and refresh the partial offsets of the axes that moved.
                var k = r - 2
                while k >= 0 {
                    idx[k] += 1
                    if idx[k] < dims[k] { break }
                    idx[k] = 0
                    k -= 1
                }
                for j in max(k, 0)..<(r - 1) {
                    let e = axes[j].entry(idx[j])
                    partial[j + 1] = (partial[j] < 0 || e < 0) ? -1 : partial[j] &+ e
                }
            }
        }
    }

    /// Cache-blocked copy for the case "inner axis strided, next axis contiguous" (a batch of 2-D
    /// transposes, e.g. [N,H,S,D] -> [N,H,D,S]). Returns false when the layout does not fit.
    private static func tiledTranspose<T>(_ s: UnsafePointer<T>, _ o: UnsafeMutablePointer<T>, dims: [Int],
                                          axes: [TFAxis], base: Int, pool: ThreadPool) -> Bool {
        let r = dims.count
        guard r >= 2, case let .affine(jo, js) = axes[r - 1], js != 1,
              case let .affine(io, 1) = axes[r - 2] else { return false }
        for k in 0..<(r - 2) { guard case .affine = axes[k] else { return false } }
        let m = dims[r - 2], n = dims[r - 1]
        let tile = 32
        let iTiles = (m + tile - 1) / tile
        var batch = 1
        for k in 0..<(r - 2) { batch &*= dims[k] }
        pool.parallelFor(batch &* iTiles, minChunk: max(1, 8192 / max(1, tile * n))) { range in
            for unit in range {
                let b = unit / iTiles, it = unit % iTiles
                var rem = b
                var off = base &+ io &+ jo
                for k in stride(from: r - 3, through: 0, by: -1) {
                    off &+= axes[k].entry(rem % dims[k])
                    rem /= dims[k]
                }
                let dstBatch = o + b &* m &* n
                let i0 = it * tile, i1 = min(m, i0 + tile)
                var j0 = 0
                while j0 < n {
                    let j1 = min(n, j0 + tile)
                    for i in i0..<i1 {
                        let d = dstBatch + i &* n
                        let p = s + (off &+ i)
                        for j in j0..<j1 { (d + j).initialize(to: p[j &* js]) }
                    }
                    j0 = j1
                }
            }
        }
        return true
    }
}

extension TensorFamily {
    /// Runs the strided gather on `source` and wraps the result as a tensor of shape `outShape`
    /// (which must have as many elements as `dims`).
    static func gather(_ source: TensorStorage, dims: [Int], axes: [TFAxis], outShape: [Int],
                       fill: TensorStorage? = nil, pool: ThreadPool) throws -> Tensor {
        let n = try count(dims)
        if n > 0 {
            // Bounds-check the reachable offsets once, so a wrong table can never read out of range.
            var lo = 0, hi = 0
            for (d, a) in zip(dims, axes) {
                switch a {
                case let .affine(o, s):
                    let first = o, last = o &+ (d - 1) &* s
                    lo &+= min(first, last)
                    hi &+= max(first, last)
                case let .table(t):
                    let valid = t.filter { $0 >= 0 }
                    lo &+= valid.min() ?? 0
                    hi &+= valid.max() ?? 0
                }
            }
            guard lo >= 0, hi < source.count else {
                throw KernelError("internal: gather offsets \(lo)...\(hi) outside \(source.count) elements")
            }
        }
        let storage = try source.dtype.dispatch(
            TFStridedGather(source: source, dims: dims, axes: axes, fill: fill, pool: pool))
        return Tensor(unchecked: outShape, storage: storage)
    }
}
