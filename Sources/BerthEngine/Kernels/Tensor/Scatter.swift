import BerthONNX
import BerthTensor

/// How a scatter combines an update with the value already at its destination.
enum ScatterReduction: String, Sendable { case none, add, mul, max, min }

/// ScatterElements, ScatterND and the old Scatter. Each builds one destination offset per update
/// slice from range-checked indices, then copies (or reduces) the slices into a copy of the data.
/// Duplicate indices without a reduction keep the last update, as ONNX Runtime does.
extension TensorFamily {
    /// Copies `updates` (slices of `slice` elements, in order) into `data` at `offsets`.
    static func scatter(_ data: Tensor, _ updates: Tensor, offsets: [Int], slice: Int, reduction: ScatterReduction,
                        _ op: String) throws -> Tensor {
        guard updates.dtype == data.dtype else { throw KernelError("\(op) updates dtype \(updates.dtype) differs from data \(data.dtype)") }
        if reduction == .none {
            struct Copy: DTypeBody {
                var data: TensorStorage, updates: TensorStorage, offsets: [Int], slice: Int
                func run<T: TensorElement>(_: T.Type) throws -> TensorStorage {
                    var out = T.values(in: data)!
                    let up = T.values(in: updates)!
                    for (t, base) in offsets.enumerated() {
                        for i in 0..<slice { out[base + i] = up[t * slice + i] }
                    }
                    return T.storage(out)
                }
            }
            let s = try data.dtype.dispatch(Copy(data: data.storage, updates: updates.storage, offsets: offsets, slice: slice))
            return Tensor(unchecked: data.shape, storage: s)
        }
        struct Reduce: MathTypeVisitor {
            var data: TensorStorage, updates: TensorStorage, offsets: [Int], slice: Int, reduction: ScatterReduction
            func visit<T: MathScalar>(_: T.Type) throws -> TensorStorage {
                var out = T.values(in: data)!
                let up = T.values(in: updates)!
                for (t, base) in offsets.enumerated() {
                    for i in 0..<slice {
                        let a = out[base + i], b = up[t * slice + i]
                        switch reduction {
                        case .add: out[base + i] = T.mathAdd(a, b)
                        case .mul: out[base + i] = T.mathMul(a, b)
                        case .max: out[base + i] = T.mathMax(a, b)
                        case .min: out[base + i] = T.mathMin(a, b)
                        case .none: out[base + i] = b
                        }
                    }
                }
                return T.storage(out)
            }
        }
        guard let s = try mathDispatch(data.dtype, Reduce(data: data.storage, updates: updates.storage, offsets: offsets,
                                                          slice: slice, reduction: reduction)) else {
            throw KernelError("\(op) reduction '\(reduction.rawValue)' needs a numeric tensor, got \(data.dtype)")
        }
        return Tensor(unchecked: data.shape, storage: s)
    }

    static func scatterElements(_ data: Tensor, _ indices: Tensor, _ updates: Tensor, axis axisAttr: Int,
                                reduction: ScatterReduction, _ op: String) throws -> Tensor {
        let r = data.rank
        let axis = try TensorFamily.axis(axisAttr, rank: r, "\(op) axis")
        guard indices.rank == r, updates.shape == indices.shape else {
            throw KernelError("\(op) needs indices and updates of one shape with the data's rank: data \(data.shape), indices \(indices.shape), updates \(updates.shape)")
        }
        let offsets = try elementOffsets(data, indices, axis: axis, op)
        return try scatter(data, updates, offsets: offsets, slice: 1, reduction: reduction, op)
    }

    static func scatterND(_ data: Tensor, _ indices: Tensor, _ updates: Tensor, reduction: ScatterReduction) throws -> Tensor {
        let r = data.rank, q = indices.rank
        guard q >= 1, let m = indices.shape.last, m >= 1, m <= r else {
            throw KernelError("ScatterND indices shape \(indices.shape) is invalid for data shape \(data.shape)")
        }
        let want = Array(indices.shape[..<(q - 1)]) + Array(data.shape[m...])
        guard updates.shape == want else {
            throw KernelError("ScatterND updates shape \(updates.shape) must be \(want) (indices \(indices.shape), data \(data.shape))")
        }
        let idx = try ints(indices, "ScatterND indices")
        let strides = TensorFamily.strides(data.shape)
        let slice = product(data.shape, m..<r)
        let tuples = idx.count / m
        var offsets = [Int](repeating: 0, count: tuples)
        for t in 0..<tuples {
            var off = 0
            for j in 0..<m { off &+= try checkedIndex(idx[t &* m &+ j], dim: data.shape[j], "ScatterND") &* strides[j] }
            offsets[t] = off
        }
        return try scatter(data, updates, offsets: offsets, slice: slice, reduction: reduction, "ScatterND")
    }

    /// The reduction attribute, limited to what `opset` defines (add/mul from 16, max/min from 18).
    static func scatterReduction(_ node: Node, opset: Int, _ op: String) throws -> ScatterReduction {
        let name = try node.string("reduction", default: "none")
        guard let r = ScatterReduction(rawValue: name),
              opset >= 18 || (opset >= 16 && (r == .add || r == .mul)) || r == .none else {
            throw KernelError("\(op) reduction '\(name)' is not supported at opset \(opset)")
        }
        return r
    }

    static func registerScatter(_ r: inout KernelRegistry) {
        r.register("Scatter", opsets: 9...10) { node, _ in
            let axis = try node.int("axis", default: 0)
            return { inputs, _ in
                [try scatterElements(try inputs.required(0), try inputs.required(1), try inputs.required(2), axis: axis,
                                     reduction: .none, "Scatter")]
            }
        }
        // 11: no reduction; 13: bfloat16; 16: add and mul; 18: max and min.
        let elements: KernelFactory = { node, opset in
            let axis = try node.int("axis", default: 0)
            let reduction = try scatterReduction(node, opset: opset, "ScatterElements")
            return { inputs, _ in
                [try scatterElements(try inputs.required(0), try inputs.required(1), try inputs.required(2), axis: axis,
                                     reduction: reduction, "ScatterElements")]
            }
        }
        let nd: KernelFactory = { node, opset in
            let reduction = try scatterReduction(node, opset: opset, "ScatterND")
            return { inputs, _ in
                [try scatterND(try inputs.required(0), try inputs.required(1), try inputs.required(2), reduction: reduction)]
            }
        }
        for range in [11...12, 13...15, 16...17, 18...Int.max] {
            r.register("ScatterElements", opsets: range, elements)
            r.register("ScatterND", opsets: range, nd)
        }
    }
}
