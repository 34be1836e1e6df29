import BerthONNX
import BerthTensor

/// The Reduce* operators.
enum ReductionFamily {
    enum Kind: String, Sendable, CaseIterable {
        case sum = "ReduceSum", mean = "ReduceMean", max = "ReduceMax", min = "ReduceMin", prod = "ReduceProd"
        case l1 = "ReduceL1", l2 = "ReduceL2", logSum = "ReduceLogSum", logSumExp = "ReduceLogSumExp"
        case sumSquare = "ReduceSumSquare"
    }

    /// Reduces `x` over `axes` (nil or empty: all axes, or nothing when `noopWithEmptyAxes`).
    static func reduce(_ x: Tensor, axes axesIn: [Int]?, keepDims: Bool, noopWithEmptyAxes: Bool, kind: Kind,
                       pool: ThreadPool) throws -> Tensor {
        let rank = x.rank
        var reduced = [Bool](repeating: true, count: rank)
        if let list = axesIn, !list.isEmpty {
            reduced = [Bool](repeating: false, count: rank)
            for a in try TensorFamily.axes(list, rank: rank, "\(kind.rawValue) axes") { reduced[a] = true }
        } else if noopWithEmptyAxes {
            // Each element is reduced alone: identity for most ops, but L1/L2/LogSum/SumSquare
            // still apply their element map (as ONNX Runtime does).
            if [.sum, .mean, .max, .min, .prod].contains(kind) { return x }
            reduced = [Bool](repeating: false, count: rank)
        }
        var outShape: [Int] = []
        for k in 0..<rank {
            if !reduced[k] { outShape.append(x.shape[k]) } else if keepDims { outShape.append(1) }
        }

        _ = try TensorFamily.count(outShape)
        // Collapse to [outer, r, inner]; unit dimensions do not affect the layout.
        var groups: [(reduced: Bool, size: Int)] = []
        for k in 0..<rank where x.shape[k] != 1 {
            if let last = groups.last, last.reduced == reduced[k] {
                groups[groups.count - 1].size = last.size &* x.shape[k]
            } else {
                groups.append((reduced[k], x.shape[k]))
            }
        }
        var data = x
        var outer = 1, r = 1, inner = 1
        let fits = groups.count <= 2 || (groups.count == 3 && !groups[0].reduced)
        if fits {
            var seenReduced = false
            for g in groups {
                if g.reduced { r = g.size; seenReduced = true } else if seenReduced { inner = g.size } else { outer = g.size }
            }
        } else {
            // Interleaved kept and reduced axes: move the reduced ones last, then reduce rows.
            let perm = (0..<rank).filter { !reduced[$0] } + (0..<rank).filter { reduced[$0] }
            data = try TensorFamily.transpose(x, perm: perm, pool: pool)
            for k in 0..<rank where reduced[k] { r &*= x.shape[k] }
            outer = 1
            for k in 0..<rank where !reduced[k] { outer &*= x.shape[k] }
        }

        let storage: TensorStorage
        if case let .float32(v) = data.storage {
            storage = .float32(compute(kind, v, outer: outer, r: r, inner: inner, pool: pool).map { Float($0) })
        } else {
            struct Widen: NumericDTypeBody {
                var kind: Kind, data: TensorStorage, outer: Int, r: Int, inner: Int, pool: ThreadPool
                func run<T: NumericElement>(_: T.Type) throws -> TensorStorage {
                    guard let v = T.values(in: data) else { throw KernelError("internal: dtype mismatch in \(kind.rawValue)") }
                    let wide = v.map(\.doubleValue)
                    let res = ReductionFamily.compute(kind, wide, outer: outer, r: r, inner: inner, pool: pool)
                    return T.storage(res.map { T(fromDouble: $0) })  // integers: truncate and saturate
                }
            }
            storage = try data.dtype.dispatchNumeric(
                Widen(kind: kind, data: data.storage, outer: outer, r: r, inner: inner, pool: pool), op: kind.rawValue)
        }
        return Tensor(unchecked: outShape, storage: storage)
    }

    /// Runs the engine for `kind` on `x` viewed as [outer, r, inner]; the result is in Double.
    static func compute<A: RFFloat>(_ kind: Kind, _ x: [A], outer: Int, r: Int, inner: Int, pool: ThreadPool) -> [Double] {
        let n = outer &* inner
        if n == 0 { return [] }
        if r == 0 {
            // Reduction over an empty set: the identity of each op (0, 1, -inf, +inf...).
            let v: Double
            switch kind {
            case .sum, .mean, .l1, .l2, .sumSquare: v = 0  // ONNX Runtime gives 0 for the mean, not 0/0
            case .max: v = RFMax.initial
            case .min: v = RFMin.initial
            case .prod: v = RFProd.initial
            case .logSum, .logSumExp: v = -.infinity
            }
            return [Double](repeating: v, count: n)
        }
        var out = [Double](repeating: 0, count: n)
        x.withUnsafeBufferPointer { xb in
            out.withUnsafeMutableBufferPointer { ob in
                guard let xp = xb.baseAddress, let op = ob.baseAddress else { return }
                func go<Op: RFOp>(_ t: Op.Type, shift: UnsafePointer<Double>? = nil) {
                    ReduceEngine.run(t, xp, outer: outer, r: r, inner: inner, shift: shift, out: op, pool: pool)
                }
                switch kind {
                case .sum: go(RFSum.self)
                case .mean: go(RFMean.self)
                case .max: go(RFMax.self)
                case .min: go(RFMin.self)
                case .prod: go(RFProd.self)
                case .l1: go(RFL1.self)
                case .l2: go(RFL2.self)
                case .sumSquare: go(RFSumSquare.self)
                case .logSum: go(RFLogSum.self)
                case .logSumExp:
                    go(RFMax.self)
                    // Infinite maxima shift by 0: exp then gives 0 or inf, and log the right infinity.
                    let shift = [Double](unsafeUninitializedCapacity: n) { buf, c in
                        for i in 0..<n { buf[i] = op[i].isInfinite ? 0 : op[i] }
                        c = n
                    }
                    shift.withUnsafeBufferPointer { sb in
                        guard let sp = sb.baseAddress else { return }
                        go(RFLogSumExpShifted.self, shift: sp)
                    }
                }
            }
        }
        return out
    }

    static func registerReduce(_ reg: inout KernelRegistry) {
        for kind in Kind.allCases {
            // Axes moved from an attribute to an input: opset 13 for ReduceSum, 18 for the others.
            let inputFrom = kind == .sum ? 13 : 18
            reg.register(kind.rawValue, opsets: 1...(inputFrom - 1)) { node, _ in
                let axes = try node.ints("axes")
                let keep = try node.int("keepdims", default: 1) != 0
                return { inputs, ctx in
                    [try reduce(try inputs.required(0), axes: axes, keepDims: keep, noopWithEmptyAxes: false, kind: kind, pool: ctx.pool)]
                }
            }
            reg.register(kind.rawValue, opsets: inputFrom...Int.max) { node, _ in
                let keep = try node.int("keepdims", default: 1) != 0
                let noop = try node.int("noop_with_empty_axes", default: 0) != 0
                return { inputs, ctx in
                    let axes = try inputs.optional(1).map { try TensorFamily.ints($0, "\(kind.rawValue) axes") }
                    return [try reduce(try inputs.required(0), axes: axes, keepDims: keep, noopWithEmptyAxes: noop, kind: kind, pool: ctx.pool)]
                }
            }
        }
    }
}
