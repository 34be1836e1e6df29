import Foundation

// Vectorised float math for the softmax hot path. glibc's expf is scalar; this Cephes-style
// exp runs eight lanes at a time with about 2 ulp error, far inside the 1e-5 tolerance.

/// `exp(x)` for eight lanes with `x` in [-87.3, 88] (smaller values give 0, which only matters
/// below 1e-38). Range reduction `x = n ln2 + r`, degree-6 polynomial, `2^n` built in the exponent bits.
@inline(__always)
func nnExp(_ v: SIMD8<Float>) -> SIMD8<Float> {
    let x = pointwiseMin(pointwiseMax(v, SIMD8(repeating: -87.3)), SIMD8(repeating: 88.0))
    // Adding 1.5 * 2^23 rounds to an integer and leaves it in the low mantissa bits.
    let magic = SIMD8<Float>(repeating: 12_582_912.0)
    let t = x * 1.442_695_04 + magic
    let n = t - magic
    var r = x - n * 0.693_359_375
    r = r - n * -2.121_944_4e-4
    let z = r * r
    var p = r * 1.987_569_15e-4 + 1.398_199_950_7e-3
    p = p * r + 8.333_451_907_3e-3
    p = p * r + 4.166_579_589_4e-2
    p = p * r + 1.666_666_545_9e-1
    p = p * r + 5.000_000_120_1e-1
    p = p * z + r + 1
    let bits = (unsafeBitCast(t, to: SIMD8<Int32>.self) &+ 127) &<< 23
    let y = p * unsafeBitCast(bits, to: SIMD8<Float>.self)
    // Below the clamp the true value is denormal or zero; NaN stays NaN.
    return y.replacing(with: 0, where: v .< -87.3).replacing(with: v, where: v .!= v)
}

/// `dst[i] = exp(src[i] - shift)` for `count` elements; returns the sum of the results.
/// `src` and `dst` may be the same buffer.
@inline(__always)
func nnExpShiftedSum(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, count: Int, shift: Float) -> Float {
    var i = 0
    var acc = SIMD8<Float>(repeating: 0)
    let s = SIMD8<Float>(repeating: shift)
    let raw = UnsafeRawPointer(src), rawDst = UnsafeMutableRawPointer(dst)
    while i + 8 <= count {
        let x = raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
        let e = nnExp(x - s)
        rawDst.storeBytes(of: e, toByteOffset: i * 4, as: SIMD8<Float>.self)
        acc += e
        i += 8
    }
    var sum = acc.sum()
    if i < count {
        // Tail through the same vector code so every element has the same rounding.
        var x = SIMD8<Float>(repeating: shift)
        for j in i..<count { x[j - i] = src[j] }
        let e = nnExp(x - s)
        for j in i..<count { dst[j] = e[j - i]; sum += e[j - i] }
    }
    return sum
}

/// The sum of `exp(src[i] - shift)` without storing the terms (LogSoftmax).
@inline(__always)
func nnExpShiftedSumOnly(_ src: UnsafePointer<Float>, count: Int, shift: Float) -> Float {
    var i = 0
    var acc = SIMD8<Float>(repeating: 0)
    let s = SIMD8<Float>(repeating: shift)
    let raw = UnsafeRawPointer(src)
    while i + 8 <= count {
        acc += nnExp(raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self) - s)
        i += 8
    }
    var sum = acc.sum()
    if i < count {
        var x = SIMD8<Float>(repeating: shift)
        for j in i..<count { x[j - i] = src[j] }
        let e = nnExp(x - s)
        for j in i..<count { sum += e[j - i] }
    }
    return sum
}

/// The largest of `count` (> 0) floats.
@inline(__always)
func nnMax(_ src: UnsafePointer<Float>, count: Int) -> Float {
    var i = 0
    var m = src[0]
    if count >= 8 {
        let raw = UnsafeRawPointer(src)
        var acc = raw.loadUnaligned(as: SIMD8<Float>.self)
        i = 8
        while i + 8 <= count {
            acc = pointwiseMax(acc, raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self))
            i += 8
        }
        m = acc.max()
    }
    while i < count { m = Swift.max(m, src[i]); i += 1 }
    return m
}

/// Multiplies `count` floats by `factor` in place.
@inline(__always)
func nnScale(_ p: UnsafeMutablePointer<Float>, count: Int, by factor: Float) {
    var i = 0
    let f = SIMD8<Float>(repeating: factor)
    let raw = UnsafeMutableRawPointer(p)
    while i + 8 <= count {
        raw.storeBytes(of: raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self) * f, toByteOffset: i * 4, as: SIMD8<Float>.self)
        i += 8
    }
    while i < count { p[i] *= factor; i += 1 }
}
