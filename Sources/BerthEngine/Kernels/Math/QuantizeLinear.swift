import BerthONNX
import BerthTensor
import CInt8Kernels

/// QuantizeLinear, DequantizeLinear and DynamicQuantizeLinear for 8- and 16-bit integers, with
/// per-tensor, per-axis (opset 13) and blocked (opset 21) scales. Rounding is half to even and
/// results saturate, as ONNX Runtime computes them (x / scale in Float, then nearbyint).
enum MathQuantization {
    /// For each element of a tensor of `shape`, the index of its scale / zero point.
    static func paramIndex(shape: [Int], params: [Int], axis axisAttr: Int, blockSize: Int, _ op: String) throws -> (Int) -> Int {
        let count = params.reduce(1, *)
        if count == 1 && params.count <= 1 { return { _ in 0 } }
        let r = shape.count
        let axis = try TensorFamily.axis(axisAttr, rank: max(r, 1), "\(op) axis")
        guard r > 0 else { throw KernelError("\(op) scale of shape \(params) needs a tensor input, got a scalar") }
        let strides = TensorFamily.strides(shape)
        let dim = shape[axis]
        if blockSize <= 0 {
            guard params == [dim] else {
                throw KernelError("\(op) per-axis scale shape \(params) must be [\(dim)] (axis \(axis) of \(shape))")
            }
            let stride = strides[axis]
            return { i in (i / stride) % dim }
        }
        // Blocked: the scale has the input's shape except ceil(dim / block) along the axis.
        var want = shape
        want[axis] = (dim + blockSize - 1) / blockSize
        guard params == want else { throw KernelError("\(op) blocked scale shape \(params) must be \(want) for block_size \(blockSize)") }
        let pstrides = TensorFamily.strides(want)
        return { i in
            var rem = i, p = 0
            for k in 0..<r {
                let c = rem / strides[k]
                rem -= c * strides[k]
                p += (k == axis ? c / blockSize : c) * pstrides[k]
            }
            return p
        }
    }

    /// The integer range of a quantized dtype Berth stores.
    static func range(_ d: DType, _ op: String) throws -> (lo: Double, hi: Double) {
        switch d {
        case .uint8: return (0, 255)
        case .int8: return (-128, 127)
        case .uint16: return (0, 65535)
        case .int16: return (-32768, 32767)
        case .int32: return (Double(Int32.min), Double(Int32.max))
        default: throw KernelError("\(op) does not support quantized type \(d)")
        }
    }

    static func quantize(_ x: Tensor, scale: Tensor, zeroPoint: Tensor?, outType: DType?, axis: Int, blockSize: Int) throws -> Tensor {
        guard x.dtype.isFloatingPoint || x.dtype == .int32, scale.dtype.isFloatingPoint else {
            throw KernelError("QuantizeLinear needs a float (or int32) input and a float scale, got \(x.dtype) and \(scale.dtype)")
        }
        let dtype = zeroPoint?.dtype ?? outType ?? .uint8
        if let zeroPoint, let outType, outType != zeroPoint.dtype {
            throw KernelError("QuantizeLinear output_dtype \(outType) differs from the zero point's \(zeroPoint.dtype)")
        }
        guard dtype != .int32 else { throw KernelError("QuantizeLinear does not produce int32") }
        let (lo, hi) = try range(dtype, "QuantizeLinear")
        let at = try paramIndex(shape: x.shape, params: scale.shape, axis: axis, blockSize: blockSize, "QuantizeLinear")
        if let zeroPoint, zeroPoint.shape != scale.shape {
            throw KernelError("QuantizeLinear zero point shape \(zeroPoint.shape) differs from the scale's \(scale.shape)")
        }
        let s = scale.doubles.map { Float($0) }, z = zeroPoint?.doubles ?? [Double](repeating: 0, count: s.count)
        let v = x.doubles
        var q = [Double](repeating: 0, count: v.count)
        for i in 0..<v.count {
            let p = at(i)
            let r = (Float(v[i]) / s[p]).rounded(.toNearestOrEven)
            q[i] = r.isNaN ? z[p] : min(max(Double(r) + z[p], lo), hi)
        }
        return try store(q, shape: x.shape, dtype: dtype)
    }

    static func store(_ q: [Double], shape: [Int], dtype: DType) throws -> Tensor {
        switch dtype {
        case .uint8: return Tensor(unchecked: shape, storage: .uint8(q.map { UInt8($0) }))
        case .int8: return Tensor(unchecked: shape, storage: .int8(q.map { Int8($0) }))
        case .uint16: return Tensor(unchecked: shape, storage: .uint16(q.map { UInt16($0) }))
        case .int16: return Tensor(unchecked: shape, storage: .int16(q.map { Int16($0) }))
        default: throw KernelError("QuantizeLinear does not support output type \(dtype)")
        }
    }

    static func dequantize(_ x: Tensor, scale: Tensor, zeroPoint: Tensor?, axis: Int, blockSize: Int) throws -> Tensor {
        _ = try range(x.dtype, "DequantizeLinear")
        guard scale.dtype.isFloatingPoint else { throw KernelError("DequantizeLinear scale must be float, got \(scale.dtype)") }
        if let zeroPoint {
            // A scalar against a one-element [1] (ORT's quantize_static writes its int32 bias so) is the same per-tensor value.
            let perTensor = zeroPoint.count == 1 && scale.count == 1 && zeroPoint.rank <= 1 && scale.rank <= 1
            guard zeroPoint.dtype == x.dtype, zeroPoint.shape == scale.shape || perTensor else {
                throw KernelError("DequantizeLinear zero point \(zeroPoint.dtype)\(zeroPoint.shape) must match the input type and the scale shape \(scale.shape)")
            }
        }
        let at = try paramIndex(shape: x.shape, params: scale.shape, axis: axis, blockSize: blockSize, "DequantizeLinear")
        let s = scale.doubles.map { Float($0) }, z = zeroPoint?.doubles.map { Float($0) } ?? [Float](repeating: 0, count: s.count)
        if x.dtype == .int32, z.contains(where: { $0 != 0 }) { throw KernelError("DequantizeLinear int32 input needs a zero point of 0") }
        let v = x.doubles
        var out = [Float](repeating: 0, count: v.count)
        for i in 0..<v.count {
            let p = at(i)
            out[i] = (Float(v[i]) - z[p]) * s[p]
        }
        switch scale.dtype {
        case .float16: return Tensor(unchecked: x.shape, storage: .float16(out.map { Float16($0) }))
        case .float64: return Tensor(unchecked: x.shape, storage: .float64(out.map { Double($0) }))
        default: return Tensor(unchecked: x.shape, storage: .float32(out))
        }
    }

    /// uint8 quantization of `x` over [min(0, x), max(0, x)]: (y, scale, zero point). Both sweeps
    /// (range, then x / scale rounded half to even, saturated, NaN → zero point) are C kernels in
    /// AVX-512 / AVX2 (`CInt8Kernels`): Swift's SIMD types compile to SSE2 here.
    static func dynamic(_ x: Tensor) throws -> [Tensor] {
        let q = try dynamicLevels(x)
        return [q.levels, .scalar(q.scale), .scalar(q.zeroPoint)]
    }

    /// ``dynamic(_:)`` with the scale and zero point as plain numbers (a fused matmul's input, no
    /// scalar tensors built per call).
    static func dynamicLevels(_ x: Tensor) throws -> (levels: Tensor, scale: Float, zeroPoint: UInt8) {
        guard case let .float32(v) = x.storage else { throw KernelError("DynamicQuantizeLinear needs a float input, got \(x.dtype)") }
        let (scale, zp) = dynamicParameters(v.withUnsafeBufferPointer { range($0) })
        let y = [UInt8](unsafeUninitializedCapacity: v.count) { out, count in
            v.withUnsafeBufferPointer { p in
                if let dst = out.baseAddress { quantizeLevels(p, into: dst, scale: scale, zero: zp, lo: 0, hi: 255) }
            }
            count = v.count
        }
        return (Tensor(unchecked: x.shape, storage: .uint8(y)), scale, UInt8(zp))
    }

    /// min(0, min x) and max(0, max x), NaN skipped: DynamicQuantizeLinear's range (C kernel).
    static func range(_ p: UnsafeBufferPointer<Float>) -> (lo: Float, hi: Float) {
        var lo: Float = 0, hi: Float = 0
        if let base = p.baseAddress { berth_u8_range(base, p.count, &lo, &hi) }
        return (lo, hi)
    }

    /// DynamicQuantizeLinear's uint8 scale and zero point for a range from ``range(_:)``.
    static func dynamicParameters(_ r: (lo: Float, hi: Float)) -> (scale: Float, zeroPoint: Int32) {
        let scale: Float = r.hi == r.lo ? 1 : (r.hi - r.lo) / 255
        let level = (0 - r.lo / scale).rounded(.toNearestOrEven)
        // An infinite input makes the level NaN (∞ / ∞): zero point 0 rather than a trap.
        return (scale, level.isNaN ? 0 : Int32(min(max(level, 0), 255)))
    }

    /// `clamp(round_half_even(x / scale) + zero, lo, hi)` as bytes (int8 levels as their
    /// two's-complement bytes; NaN → zero), by the C kernel (AVX-512 / AVX2 / scalar).
    static func quantizeLevels(_ p: UnsafeBufferPointer<Float>, into out: UnsafeMutableRawPointer, scale: Float, zero: Int32, lo: Int32, hi: Int32) {
        guard let src = p.baseAddress else { return }
        berth_quantize_levels(src, p.count, scale, zero, lo, hi, out.assumingMemoryBound(to: UInt8.self))
    }
}

extension KernelRegistry {
    mutating func registerQuantizeLinear() {
        // 10: per-tensor; 13: axis; 19: float8 types and saturate (float8 is not a Berth dtype);
        // 21: block_size, output_dtype and 16-bit types.
        for range in [10...12, 13...18, 19...20, 21...Int.max] {
            register("QuantizeLinear", opsets: range) { node, opset in
                let axis = opset >= 13 ? try node.int("axis", default: 1) : 1
                let block = opset >= 21 ? try node.int("block_size", default: 0) : 0
                guard block >= 0 else { throw KernelError("QuantizeLinear block_size must not be negative, got \(block)") }
                let code = opset >= 21 ? try node.int("output_dtype", default: 0) : 0
                let outType: DType? = code == 0 ? nil : DType(rawValue: code)
                guard code == 0 || outType != nil else { throw KernelError("QuantizeLinear output_dtype \(code) is not supported") }
                return { inputs, _ in
                    [try MathQuantization.quantize(try inputs.required(0), scale: try inputs.required(1), zeroPoint: inputs.optional(2),
                                                   outType: outType, axis: axis, blockSize: block)]
                }
            }
            register("DequantizeLinear", opsets: range) { node, opset in
                let axis = opset >= 13 ? try node.int("axis", default: 1) : 1
                let block = opset >= 21 ? try node.int("block_size", default: 0) : 0
                guard block >= 0 else { throw KernelError("DequantizeLinear block_size must not be negative, got \(block)") }
                return { inputs, _ in
                    [try MathQuantization.dequantize(try inputs.required(0), scale: try inputs.required(1), zeroPoint: inputs.optional(2),
                                                     axis: axis, blockSize: block)]
                }
            }
        }
        register("DynamicQuantizeLinear", opsets: 11...Int.max) { _, _ in
            { inputs, _ in try MathQuantization.dynamic(try inputs.required(0)) }
        }
    }
}
