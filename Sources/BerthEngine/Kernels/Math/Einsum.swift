import BerthONNX
import BerthTensor

/// Einsum. Each operand first takes the diagonal of repeated labels and sums out labels no one
/// else needs; operands are then contracted left to right, each pair as one batched MatMul over
/// [batch, kept-left, contracted] x [batch, contracted, kept-right], and the result is transposed
/// into the output order. Ellipsis dims are labels of their own and broadcast like NumPy's.
struct MathEinsum: Sendable {
    /// Labels per input and of the output; letters are their ASCII codes, ellipsis dims 1000+i.
    var inputs: [[Int]]
    var output: [Int]

    static let ellipsisBase = 1000

    /// Parses `equation` for inputs of the given ranks.
    init(_ equation: String, ranks: [Int]) throws {
        let eq = equation.filter { $0 != " " }
        let sides = eq.components(separatedBy: "->")
        guard sides.count <= 2 else { throw KernelError("Einsum equation '\(equation)' has more than one '->'") }
        let terms = sides[0].components(separatedBy: ",")
        guard terms.count == ranks.count else {
            throw KernelError("Einsum equation '\(equation)' has \(terms.count) operands but the node has \(ranks.count) inputs")
        }
        func letters(_ term: Substring) throws -> [Int] {
            try term.map { c in
                guard let a = c.asciiValue, c.isLetter else { throw KernelError("Einsum equation '\(equation)' has invalid label '\(c)'") }
                return Int(a)
            }
        }
        // Split each term around its (at most one) ellipsis.
        func split(_ term: String) throws -> (before: [Int], after: [Int], ellipsis: Bool) {
            let parts = term.components(separatedBy: "...")
            guard parts.count <= 2 else { throw KernelError("Einsum term '\(term)' has more than one ellipsis") }
            return (try letters(Substring(parts[0])), parts.count == 2 ? try letters(Substring(parts[1])) : [], parts.count == 2)
        }
        var ellipsisRank = 0
        var parsed: [(before: [Int], after: [Int], ellipsis: Bool)] = []
        for (t, rank) in zip(terms, ranks) {
            let p = try split(t)
            let named = p.before.count + p.after.count
            guard p.ellipsis ? named <= rank : named == rank else {
                throw KernelError("Einsum term '\(t)' does not match an input of rank \(rank)")
            }
            if p.ellipsis { ellipsisRank = max(ellipsisRank, rank - named) }
            parsed.append(p)
        }
        inputs = zip(parsed, ranks).map { p, rank in
            let e = p.ellipsis ? rank - p.before.count - p.after.count : 0
            return p.before + (0..<e).map { Self.ellipsisBase + ellipsisRank - e + $0 } + p.after
        }
        let allEllipsis = (0..<ellipsisRank).map { Self.ellipsisBase + $0 }
        if sides.count == 2 {
            let p = try split(sides[1])
            output = p.before + (p.ellipsis ? allEllipsis : []) + p.after
            guard Set(output).count == output.count else { throw KernelError("Einsum output '\(sides[1])' repeats a label") }
            let seen = Set(inputs.joined())
            for l in output where !seen.contains(l) && l < Self.ellipsisBase {
                throw KernelError("Einsum output label '\(Character(UnicodeScalar(UInt8(l))))' appears in no input")
            }
        } else {
            var counts: [Int: Int] = [:]
            for l in inputs.joined() where l < Self.ellipsisBase { counts[l, default: 0] += 1 }
            output = allEllipsis + counts.filter { $0.value == 1 }.keys.sorted()
        }
    }

    /// An operand: a tensor whose axes carry `labels` (distinct after ``diagonal(_:)``).
    struct Operand {
        var t: Tensor
        var labels: [Int]
    }

    /// Takes the diagonal for every repeated label.
    static func diagonal(_ op: Operand, pool: ThreadPool) throws -> Operand {
        var o = op
        while let q = o.labels.indices.first(where: { i in o.labels[..<i].contains(o.labels[i]) }) {
            let p = o.labels.firstIndex(of: o.labels[q])!
            guard o.t.shape[p] == o.t.shape[q] else { throw KernelError("Einsum repeated label has dims \(o.t.shape[p]) and \(o.t.shape[q])") }
            let strides = TensorFamily.strides(o.t.shape)
            var dims: [Int] = [], axes: [TFAxis] = []
            for k in o.t.shape.indices where k != q {
                dims.append(o.t.shape[k])
                axes.append(.affine(offset: 0, stride: k == p ? strides[p] &+ strides[q] : strides[k]))
            }
            o.t = try TensorFamily.gather(o.t.storage, dims: dims, axes: axes, outShape: dims, pool: pool)
            o.labels.remove(at: q)
        }
        return o
    }

    /// Sums out the axes whose labels are not in `keep` (order of the rest unchanged).
    static func sumOut(_ op: Operand, keep: Set<Int>, pool: ThreadPool) throws -> Operand {
        let kept = op.labels.indices.filter { keep.contains(op.labels[$0]) }
        guard kept.count < op.labels.count else { return op }
        let gone = op.labels.indices.filter { !keep.contains(op.labels[$0]) }
        let moved = try TensorFamily.transpose(op.t, perm: kept + gone, pool: pool)
        let keptShape = kept.map { op.t.shape[$0] }
        let rows = keptShape.reduce(1, *), width = gone.map { op.t.shape[$0] }.reduce(1, *)
        struct Sum: MathTypeVisitor {
            var t: Tensor, rows: Int, width: Int
            func visit<T: MathScalar>(_: T.Type) throws -> TensorStorage {
                let v = try t.values(T.self)
                var out = [T](repeating: T.zero, count: rows)
                for r in 0..<rows {
                    var acc = T.zero
                    for i in 0..<width { acc = T.mathAdd(acc, v[r * width + i]) }
                    out[r] = acc
                }
                return T.storage(out)
            }
        }
        guard let s = try mathDispatch(op.t.dtype, Sum(t: moved, rows: rows, width: width)) else {
            throw KernelError("Einsum does not support dtype \(op.t.dtype)")
        }
        return Operand(t: Tensor(unchecked: keptShape, storage: s), labels: kept.map { op.labels[$0] })
    }

    /// Broadcasts size-1 axes of `op` to the sizes in `dims` (ellipsis broadcasting).
    static func expand(_ op: Operand, to dims: [Int: Int], pool: ThreadPool) throws -> Operand {
        let target = op.labels.map { dims[$0]! }
        guard target != op.t.shape else { return op }
        let strides = TensorFamily.strides(op.t.shape)
        let axes = op.t.shape.indices.map { TFAxis.affine(offset: 0, stride: op.t.shape[$0] == 1 ? 0 : strides[$0]) }
        return Operand(t: try TensorFamily.gather(op.t.storage, dims: target, axes: axes, outShape: target, pool: pool), labels: op.labels)
    }

    /// Contracts two operands, keeping the labels in `keep`.
    static func contract(_ a: Operand, _ b: Operand, keep: Set<Int>, pool: ThreadPool) throws -> Operand {
        let inB = Set(b.labels), inA = Set(a.labels)
        let batch = a.labels.filter { inB.contains($0) && keep.contains($0) }
        let summed = a.labels.filter { inB.contains($0) && !keep.contains($0) }
        let left = a.labels.filter { !inB.contains($0) }, right = b.labels.filter { !inA.contains($0) }
        func dims(_ o: Operand) -> [Int: Int] { Dictionary(uniqueKeysWithValues: zip(o.labels, o.t.shape)) }
        let da = dims(a), db = dims(b)
        let size: [Int: Int] = da.merging(db) { max($0, $1) }
        for l in batch + summed where da[l]! != db[l]! && da[l]! != 1 && db[l]! != 1 {
            throw KernelError("Einsum label dims \(da[l]!) and \(db[l]!) do not match")
        }
        let ea = try expand(a, to: size, pool: pool), eb = try expand(b, to: size, pool: pool)
        func perm(_ o: Operand, _ order: [Int]) -> [Int] { order.map { o.labels.firstIndex(of: $0)! } }
        func prod(_ ls: [Int]) -> Int { ls.reduce(1) { $0 * size[$1]! } }
        let ta = try TensorFamily.transpose(ea.t, perm: perm(ea, batch + left + summed), pool: pool)
            .reshaped([prod(batch), prod(left), prod(summed)])
        let tb = try TensorFamily.transpose(eb.t, perm: perm(eb, batch + summed + right), pool: pool)
            .reshaped([prod(batch), prod(summed), prod(right)])
        let c = try mathMatMul(ta, tb, pool: pool)
        let labels = batch + left + right
        return Operand(t: try c.reshaped(labels.map { size[$0]! }), labels: labels)
    }

    func run(_ tensors: [Tensor], pool: ThreadPool) throws -> Tensor {
        guard let dtype = tensors.first?.dtype, tensors.allSatisfy({ $0.dtype == dtype }) else {
            throw KernelError("Einsum inputs must share one dtype")
        }
        var ops = try zip(tensors, inputs).map { try Self.diagonal(Operand(t: $0, labels: $1), pool: pool) }
        // Labels each operand must keep: the output's and those of the other operands.
        func needed(excluding i: Int) -> Set<Int> {
            var s = Set(output)
            for (j, o) in ops.enumerated() where j != i { s.formUnion(o.labels) }
            return s
        }
        for i in ops.indices { ops[i] = try Self.sumOut(ops[i], keep: needed(excluding: i), pool: pool) }
        var acc = ops[0]
        for i in 1..<max(1, ops.count) {
            var keep = Set(output)
            for o in ops[(i + 1)...] { keep.formUnion(o.labels) }
            acc = try Self.contract(acc, ops[i], keep: keep, pool: pool)
        }
        acc = try Self.sumOut(acc, keep: Set(output), pool: pool)
        guard Set(acc.labels) == Set(output) else { throw KernelError("Einsum output labels \(output) are not all in the inputs") }
        return try TensorFamily.transpose(acc.t, perm: output.map { acc.labels.firstIndex(of: $0)! }, pool: pool)
    }
}

extension KernelRegistry {
    mutating func registerEinsum() {
        register("Einsum", opsets: 12...Int.max) { node, _ in
            let equation = try node.string("equation", default: "")
            return { inputs, ctx in
                let ts = try inputs.indices.map { try inputs.required($0) }
                return [try MathEinsum(equation, ranks: ts.map(\.rank)).run(ts, pool: ctx.pool)]
            }
        }
    }
}
