import BerthONNX
import BerthTensor

/// Pad in constant, reflect, edge and wrap modes. Each output axis gets a table of source offsets
/// (negative entries take the constant), so negative pads (cropping) fall out of the same code.
extension TensorFamily {
    static func pad(_ x: Tensor, pads: [Int], axes axesIn: [Int]?, mode: String, constant: TensorStorage?,
                    pool: ThreadPool) throws -> Tensor {
        let r = x.rank
        let axes = try TensorFamily.axes(axesIn ?? Array(0..<r), rank: r, "Pad axes")
        guard pads.count == 2 * axes.count else {
            throw KernelError("Pad pads \(pads) must have 2 entries per padded axis (\(axes.count) axes, input shape \(x.shape))")
        }
        var begin = [Int](repeating: 0, count: r), end = [Int](repeating: 0, count: r)
        for (i, a) in axes.enumerated() {
            begin[a] = pads[i]
            end[a] = pads[i + axes.count]
        }
        let strides = TensorFamily.strides(x.shape)
        var outShape = x.shape
        for k in 0..<r {
            let (s1, o1) = x.shape[k].addingReportingOverflow(begin[k])
            let (n, o2) = s1.addingReportingOverflow(end[k])
            guard !o1, !o2, n >= 0 else {
                throw KernelError("Pad pads \(pads) give a negative or overflowing size on axis \(k) of shape \(x.shape)")
            }
            outShape[k] = n
        }
        // Checked before building tables, so no table is longer than the (valid) output.
        if try count(outShape) == 0 { return Tensor(unchecked: outShape, storage: .zeros(x.dtype, count: 0)) }
        var tables: [TFAxis] = []
        for k in 0..<r {
            let dim = x.shape[k], n = outShape[k]
            if begin[k] == 0 && end[k] == 0 {
                tables.append(.affine(offset: 0, stride: strides[k]))
                continue
            }
            var t = [Int](repeating: -1, count: n)
            if mode == "constant" {
                for i in 0..<n {
                    let s = i &- begin[k]
                    if s >= 0 && s < dim { t[i] = s &* strides[k] }
                }
                tables.append(.table(t))
                continue
            }
            // Negative pads crop first; the other modes then wrap/reflect/clamp inside the crop.
            let lo = max(0, 0 &- begin[k]), kept = dim &- lo &- max(0, 0 &- end[k]), pb = max(0, begin[k])
            guard kept > 0, kept <= dim else {
                throw KernelError("Pad mode '\(mode)' has no elements to pad from on axis \(k) (shape \(x.shape), pads \(pads))")
            }
            for i in 0..<n {
                var s = i - pb
                if s < 0 || s >= kept {
                    switch mode {
                    case "edge": s = min(max(s, 0), kept - 1)
                    case "wrap": s = ((s % kept) + kept) % kept
                    default:
                        // reflect: mirror without repeating the edge, period 2*(kept-1).
                        if kept == 1 { s = 0 } else {
                            let p = 2 * (kept - 1)
                            s = ((s % p) + p) % p
                            if s >= kept { s = p - s }
                        }
                    }
                }
                t[i] = (lo + s) &* strides[k]
            }
            tables.append(.table(t))
        }
        return try gather(x.storage, dims: outShape, axes: tables, outShape: outShape, fill: constant, pool: pool)
    }

    /// A one-element storage of `dtype` holding `value` (used for the opset < 11 float attribute).
    static func scalarStorage(_ value: Double, dtype: DType) -> TensorStorage {
        switch dtype {
        case .bool: return .bool([value != 0])
        case .string: return .string([""])
        default:
            struct Make: DTypeBody {
                var value: Double
                func run<T: TensorElement>(_: T.Type) throws -> TensorStorage {
                    guard let n = T.self as? any NumericElement.Type else { return T.storage([T.zero]) }
                    return n.storage1(value)
                }
            }
            return (try? dtype.dispatch(Make(value: value))) ?? .zeros(dtype, count: 1)
        }
    }

    static func registerPad(_ r: inout KernelRegistry) {
        let modes: Set<String> = ["constant", "reflect", "edge", "wrap"]
        r.register("Pad", opsets: 1...10) { node, opset in
            let mode = try node.string("mode", default: "constant")
            guard modes.contains(mode), mode != "wrap" else { throw KernelError("Pad mode '\(mode)' is not supported") }
            guard let pads = try node.ints(opset < 2 ? "paddings" : "pads") else { throw KernelError("Pad needs a 'pads' attribute") }
            let value = Double(try node.float("value", default: 0))
            return { inputs, ctx in
                let x = try inputs.required(0)
                return [try pad(x, pads: pads, axes: nil, mode: mode, constant: scalarStorage(value, dtype: x.dtype), pool: ctx.pool)]
            }
        }
        r.register("Pad", opsets: 11...Int.max) { node, opset in
            let mode = try node.string("mode", default: "constant")
            guard modes.contains(mode), mode != "wrap" || opset >= 19 else { throw KernelError("Pad mode '\(mode)' is not supported") }
            return { inputs, ctx in
                let x = try inputs.required(0)
                let pads = try ints(try inputs.required(1), "Pad pads")
                var constant: TensorStorage? = nil
                if let c = inputs.optional(2), c.count > 0 {
                    guard c.dtype == x.dtype else { throw KernelError("Pad constant_value dtype \(c.dtype) differs from input \(x.dtype)") }
                    constant = c.storage
                }
                let axes = try inputs.optional(3).map { try ints($0, "Pad axes") }
                return [try pad(x, pads: pads, axes: axes, mode: mode, constant: constant, pool: ctx.pool)]
            }
        }
    }
}

extension NumericElement {
    /// One-element storage holding `value` converted to this type.
    fileprivate static func storage1(_ value: Double) -> TensorStorage { storage([Self(fromDouble: value)]) }
}
