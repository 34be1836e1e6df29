import BerthONNX
import BerthTensor

/// Shape, Size, Constant, ConstantOfShape and Range.
extension TensorFamily {
    /// Range for one numeric type: `n = max(ceil((limit - start) / delta), 0)` elements.
    private struct TFRange: DTypeBody {
        var start: TensorStorage, limit: TensorStorage, delta: TensorStorage

        func run<T: TensorElement>(_: T.Type) throws -> TensorStorage {
            guard let N = T.self as? any NumericElement.Type else { throw KernelError("Range does not support dtype \(T.dtype)") }
            return try make(N)
        }

        func make<N: NumericElement>(_: N.Type) throws -> TensorStorage {
            guard let s = N.values(in: start)?.first, let l = N.values(in: limit)?.first, let d = N.values(in: delta)?.first else {
                throw KernelError("Range start, limit and delta must be scalars of one dtype")
            }
            guard d != N.zero else { throw KernelError("Range delta is 0") }
            let span = (l.doubleValue - s.doubleValue) / d.doubleValue
            guard span.isFinite || span.isNaN else { throw KernelError("Range from \(s) to \(l) step \(d) is unbounded") }
            let c = span.isNaN ? 0.0 : max(0, span.rounded(.up))
            guard c <= Double(maxElements) else { throw KernelError("Range from \(s) to \(l) step \(d) has too many elements") }
            let n = Int(c)
            // Accumulate in Double as start + i * delta, then round once.
            let sd = s.doubleValue, dd = d.doubleValue
            return N.storage((0..<n).map { N(fromDouble: sd + Double($0) * dd) })
        }
    }

    /// Exact integer Range (int16/int32/int64 and the other integer types).
    private static func integerRange(_ s: Int, _ l: Int, _ d: Int, dtype: DType) throws -> Tensor {
        guard d != 0 else { throw KernelError("Range delta is 0") }
        let (diff, o) = l.subtractingReportingOverflow(s)
        guard !o else { throw KernelError("Range from \(s) to \(l) is too large") }
        // ceil(diff / d) for either sign, done without overflow.
        let (q, oq) = diff.dividedReportingOverflow(by: d)
        guard !oq else { throw KernelError("Range from \(s) to \(l) step \(d) has too many elements") }
        var n = q
        if diff % d != 0 && (diff < 0) == (d < 0) { n += 1 }
        n = max(n, 0)
        guard n <= maxElements else { throw KernelError("Range from \(s) to \(l) step \(d) has too many elements") }
        let values = (0..<n).map { s &+ $0 &* d }
        let storage: TensorStorage
        switch dtype {
        case .int64: storage = .int64(values.map { Int64($0) })
        case .int32: storage = .int32(values.map { Int32(truncatingIfNeeded: $0) })
        case .int16: storage = .int16(values.map { Int16(truncatingIfNeeded: $0) })
        case .int8: storage = .int8(values.map { Int8(truncatingIfNeeded: $0) })
        case .uint8: storage = .uint8(values.map { UInt8(truncatingIfNeeded: $0) })
        case .uint16: storage = .uint16(values.map { UInt16(truncatingIfNeeded: $0) })
        case .uint32: storage = .uint32(values.map { UInt32(truncatingIfNeeded: $0) })
        case .uint64: storage = .uint64(values.map { UInt64(truncatingIfNeeded: $0) })
        default: throw KernelError("Range does not support dtype \(dtype)")
        }
        return Tensor(unchecked: [n], storage: storage)
    }

    static func registerShapeAndConstants(_ r: inout KernelRegistry) {
        r.register("Shape") { node, opset in
            let startAttr = opset >= 15 ? try node.int("start", default: 0) : 0
            let endAttr: Int? = opset >= 15 && node.attributes["end"] != nil ? try node.int("end") : nil
            return { inputs, _ in
                let x = try inputs.required(0)
                let rank = x.rank
                func clamp(_ v: Int) -> Int { min(max(v < 0 ? v &+ rank : v, 0), rank) }
                let s = clamp(startAttr), e = clamp(endAttr ?? rank)
                let dims = s < e ? x.shape[s..<e].map { Int64($0) } : []
                return [Tensor(unchecked: [dims.count], storage: .int64(dims))]
            }
        }

        r.register("Size") { _, _ in
            return { inputs, _ in [Tensor.scalar(Int64(try inputs.required(0).count))] }
        }

        r.register("ConstantOfShape", opsets: 9...Int.max) { node, _ in
            let value = try node.tensor("value") ?? Tensor.scalar(Float(0))
            guard value.count == 1 else { throw KernelError("ConstantOfShape value must hold one element, got \(value.count)") }
            return { inputs, _ in
                let shape = try ints(try inputs.required(0), "ConstantOfShape shape")
                guard shape.allSatisfy({ $0 >= 0 }) else { throw KernelError("ConstantOfShape shape \(shape) has a negative dimension") }
                let n = try count(shape)
                let zeros = [Int](repeating: 0, count: n)
                return [Tensor(unchecked: shape, storage: value.storage.gather(zeros))]
            }
        }

        r.register("Constant") { node, _ in
            let t: Tensor
            if let v = try node.tensor("value") {
                t = v
            } else if node.attributes["sparse_value"] != nil {
                throw KernelError("Constant with sparse_value is not supported")
            } else if node.attributes["value_float"] != nil {
                t = Tensor.scalar(try node.float("value_float", default: 0))
            } else if let v = try node.floats("value_floats") {
                t = Tensor(unchecked: [v.count], storage: .float32(v))
            } else if node.attributes["value_int"] != nil {
                t = Tensor.scalar(Int64(try node.int("value_int")))
            } else if let v = try node.ints("value_ints") {
                t = Tensor(unchecked: [v.count], storage: .int64(v.map { Int64($0) }))
            } else if node.attributes["value_string"] != nil {
                t = Tensor.scalar(try node.string("value_string", default: ""))
            } else if let v = try node.strings("value_strings") {
                t = Tensor(unchecked: [v.count], storage: .string(v))
            } else {
                throw KernelError("Constant has no value attribute")
            }
            return { _, _ in [t] }
        }

        r.register("Range", opsets: 11...Int.max) { _, _ in
            return { inputs, _ in
                let s = try inputs.required(0), l = try inputs.required(1), d = try inputs.required(2)
                guard s.dtype == l.dtype, s.dtype == d.dtype else {
                    throw KernelError("Range inputs must share one dtype, got \(s.dtype), \(l.dtype), \(d.dtype)")
                }
                if !s.dtype.isFloatingPoint, let st = try? s.integers().first, let li = try? l.integers().first,
                   let de = try? d.integers().first {
                    return [try integerRange(st, li, de, dtype: s.dtype)]
                }
                let storage = try s.dtype.dispatch(TFRange(start: s.storage, limit: l.storage, delta: d.storage))
                return [Tensor(unchecked: [storage.count], storage: storage)]
            }
        }
    }
}
