import BerthTensor
import CVectorMath

// Row kernels shared by LayerNormalization and InstanceNormalization: one contiguous row is
// normalised at a time, eight lanes wide. Rows are at most a few thousand floats and stay in L1,
// so the two-pass mean/variance costs little and avoids the cancellation of E[x^2] - E[x]^2.

/// The mean and variance of `count` (> 0) contiguous floats.
@inline(__always)
func normMeanVariance(_ p: UnsafePointer<Float>, count: Int) -> (mean: Float, variance: Float) {
    let raw = UnsafeRawPointer(p)
    var acc = SIMD8<Float>(repeating: 0)
    var i = 0
    while i + 8 <= count {
        acc += raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
        i += 8
    }
    var sum = acc.sum()
    while i < count { sum += p[i]; i += 1 }
    let mean = sum / Float(count)
    let m = SIMD8<Float>(repeating: mean)
    acc = SIMD8(repeating: 0)
    i = 0
    while i + 8 <= count {
        let d = raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self) - m
        acc += d * d
        i += 8
    }
    var sq = acc.sum()
    while i < count { let d = p[i] - mean; sq += d * d; i += 1 }
    return (mean, sq / Float(count))
}

/// LayerNormalization of one row: `dst[i] = (src[i] - mean) * inv * scale[i] + bias[i]` (`bias` may
/// be nil) with `inv = 1 / sqrt(variance + epsilon)`; returns the row's mean and inv. On
/// `CVectorMath` when the CPU has AVX2 (see ``nnVectorISA``).
@inline(__always)
func normLayerNormRow(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, count: Int, epsilon: Float,
                      scale: UnsafePointer<Float>, bias: UnsafePointer<Float>?) -> (mean: Float, inv: Float) {
    if nnVectorISA > 0 {
        var mean: Float = 0, inv: Float = 0
        berth_layer_norm_row_isa(nnVectorISA, src, dst, count, scale, bias, epsilon, &mean, &inv)
        return (mean, inv)
    }
    let (mean, variance) = normMeanVariance(src, count: count)
    let inv = 1 / (variance + epsilon).squareRoot()
    normApplyRow(src, dst, count: count, mean: mean, invStd: inv, scale: scale, bias: bias)
    return (mean, inv)
}

/// `dst[i] = (src[i] - mean) * invStd * scale[i] + bias[i]`; `bias` may be nil.
@inline(__always)
func normApplyRow(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, count: Int, mean: Float, invStd: Float,
                  scale: UnsafePointer<Float>, bias: UnsafePointer<Float>?) {
    let rs = UnsafeRawPointer(src), rd = UnsafeMutableRawPointer(dst)
    let rsc = UnsafeRawPointer(scale)
    let m = SIMD8<Float>(repeating: mean), s = SIMD8<Float>(repeating: invStd)
    var i = 0
    if let bias {
        let rb = UnsafeRawPointer(bias)
        while i + 8 <= count {
            let x = rs.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
            let g = rsc.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
            let b = rb.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
            rd.storeBytes(of: (x - m) * s * g + b, toByteOffset: i * 4, as: SIMD8<Float>.self)
            i += 8
        }
        while i < count { dst[i] = (src[i] - mean) * invStd * scale[i] + bias[i]; i += 1 }
    } else {
        while i + 8 <= count {
            let x = rs.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
            let g = rsc.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
            rd.storeBytes(of: (x - m) * s * g, toByteOffset: i * 4, as: SIMD8<Float>.self)
            i += 8
        }
        while i < count { dst[i] = (src[i] - mean) * invStd * scale[i]; i += 1 }
    }
}

/// `dst[i] = src[i] * a + b` over `count` floats.
@inline(__always)
func normAffineRow(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, count: Int, a: Float, b: Float) {
    let rs = UnsafeRawPointer(src), rd = UnsafeMutableRawPointer(dst)
    let va = SIMD8<Float>(repeating: a), vb = SIMD8<Float>(repeating: b)
    var i = 0
    while i + 8 <= count {
        rd.storeBytes(of: rs.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self) * va + vb, toByteOffset: i * 4, as: SIMD8<Float>.self)
        i += 8
    }
    while i < count { dst[i] = src[i] * a + b; i += 1 }
}

/// The values of a float-typed tensor as Float (float16 and float64 are converted).
func normFloats(_ t: Tensor, _ what: String) throws -> [Float] {
    switch t.storage {
    case let .float32(v): return v
    case let .float16(v): return v.map { Float($0) }
    case let .float64(v): return v.map { Float($0) }
    default: throw KernelError("\(what) must be floating point, got \(t.dtype)")
    }
}

/// Wraps float results in the dtype `like` asks for (float32, float16 or float64).
func normTensor(_ v: [Float], shape: [Int], like dtype: DType) -> Tensor {
    switch dtype {
    case .float16: return Tensor(unchecked: shape, storage: .float16(v.map { Float16($0) }))
    case .float64: return Tensor(unchecked: shape, storage: .float64(v.map { Double($0) }))
    default: return Tensor(unchecked: shape, storage: .float32(v))
    }
}

/// Expands `t` (unidirectionally broadcastable to `target`) to exactly `target`'s element count.
func normBroadcast(_ values: [Float], shape: [Int], to target: [Int], what: String) throws -> [Float] {
    let count = try Shape.elementCount(target)
    guard shape.count <= target.count else { throw KernelError("\(what) shape \(shape) does not broadcast to \(target)") }
    let padded = Array(repeating: 1, count: target.count - shape.count) + shape
    if padded == target { return values }
    for (a, b) in zip(padded, target) where a != b && a != 1 { throw KernelError("\(what) shape \(shape) does not broadcast to \(target)") }
    let srcStrides = Shape.strides(padded)
    let tStrides = Shape.strides(target)
    var out = [Float](repeating: 0, count: count)
    for i in 0..<count {
        var rem = i, j = 0
        for d in 0..<target.count {
            let idx = rem / tStrides[d]
            rem -= idx * tStrides[d]
            if padded[d] != 1 { j += idx * srcStrides[d] }
        }
        out[i] = values[j]
    }
    return out
}
