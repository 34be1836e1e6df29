import BerthONNX
import BerthTensor

/// Unique: the distinct elements (or slices along `axis`), sorted ascending (lexicographically for
/// slices) or in order of first occurrence, with the first-occurrence indices, the inverse indices
/// and the counts as int64.
extension TensorFamily {
    static func unique(_ x: Tensor, axis axisAttr: Int?, sorted: Bool, pool: ThreadPool) throws -> [Tensor] {
        let axis = try axisAttr.map { try TensorFamily.axis($0, rank: x.rank, "Unique axis") }
        // View the input as [slices, width] with the chosen axis first.
        let moved: Tensor
        let slices: Int
        var rest: [Int] = []
        if let axis {
            var perm = Array(0..<x.rank)
            perm.remove(at: axis)
            perm.insert(axis, at: 0)
            moved = try transpose(x, perm: perm, pool: pool)
            slices = x.shape[axis]
            rest = Array(moved.shape.dropFirst())
        } else {
            moved = try x.reshaped([x.count])
            slices = x.count
        }
        let width = slices == 0 ? 0 : moved.count / slices
        let storage = moved.storage
        let groupsSorted: [[Int]]
        switch storage {
        case let .bool(b): groupsSorted = uniqueGroups(b.map { $0 ? 1 : 0 }, slices: slices, width: width)
        case let .string(s): groupsSorted = uniqueGroups(s, slices: slices, width: width)
        default:
            struct Num: NumericDTypeBody {
                var storage: TensorStorage, slices: Int, width: Int
                func run<N: NumericElement>(_: N.Type) throws -> [[Int]] {
                    TensorFamily.uniqueGroups(N.values(in: storage)!, slices: slices, width: width)
                }
            }
            groupsSorted = try storage.dtype.dispatchNumeric(Num(storage: storage, slices: slices, width: width)) ?? []
        }
        // Each group lists its slice indices in input order; groups are in sorted order.
        var groups = groupsSorted
        if !sorted { groups.sort { $0[0] < $1[0] } }
        var inverse = [Int64](repeating: 0, count: slices)
        for (g, members) in groups.enumerated() { for m in members { inverse[m] = Int64(g) } }
        let firsts = groups.map { $0[0] }
        let yMoved = try gather(moved.storage, dims: [firsts.count, max(width, 1)],
                                axes: [.table(firsts.map { $0 &* width }), .affine(offset: 0, stride: 1)],
                                outShape: [firsts.count] + rest, pool: pool)
        var y = yMoved
        if let axis {
            var perm = Array(1..<x.rank)
            perm.insert(0, at: axis)
            y = try transpose(yMoved, perm: perm, pool: pool)
        }
        return [y, Tensor(unchecked: [firsts.count], storage: .int64(firsts.map { Int64($0) })),
                Tensor(unchecked: [slices], storage: .int64(inverse)),
                Tensor(unchecked: [groups.count], storage: .int64(groups.map { Int64($0.count) }))]
    }

    /// The groups of equal slices of `v` (viewed as [slices, width]), in ascending order; each
    /// lists its members in input order.
    static func uniqueGroups<T: Comparable>(_ v: [T], slices: Int, width: Int) -> [[Int]] {
        func compare(_ a: Int, _ b: Int) -> Int {
            for i in 0..<width {
                let p = v[a * width + i], q = v[b * width + i]
                if p < q { return -1 }
                if q < p { return 1 }
            }
            return 0
        }
        let order = (0..<slices).sorted { a, b in
            let c = compare(a, b)
            return c != 0 ? c < 0 : a < b
        }
        var groups: [[Int]] = []
        for i in order {
            if let g = groups.last, compare(g[0], i) == 0 { groups[groups.count - 1].append(i) } else { groups.append([i]) }
        }
        return groups
    }

    static func registerUnique(_ r: inout KernelRegistry) {
        r.register("Unique", opsets: 11...Int.max) { node, _ in
            let axis: Int? = node.attributes["axis"] == nil ? nil : try node.int("axis")
            let sorted = try node.int("sorted", default: 1) != 0
            return { inputs, ctx in try unique(try inputs.required(0), axis: axis, sorted: sorted, pool: ctx.pool) }
        }
    }
}
