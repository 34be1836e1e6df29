import CVectorMath
import Foundation

// Vectorised float math for the softmax hot path. glibc's expf is scalar; this Cephes-style
// exp runs eight lanes at a time with about 2 ulp error, far inside the 1e-5 tolerance.
// On x86 with AVX2 the rows run in `CVectorMath` (the same exp, 16 or 8 lanes with FMA): Swift's
// SIMD types compile to SSE2 at the package's baseline.

/// The `CVectorMath` path this process uses: 2 AVX-512, 1 AVX2 + FMA, 0 the Swift SIMD code
/// (other CPUs, or `BERTH_VECTOR_MATH=0` for A/B measurements).
let nnVectorISA: Int32 = ProcessInfo.processInfo.environment["BERTH_VECTOR_MATH"] == "0" ? 0 : berth_vector_math_isa()

/// Softmax of one row of `count` (> 0) floats; `src` and `dst` may be the same buffer.
@inline(__always)
func nnSoftmaxRow(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, count: Int) {
    if nnVectorISA > 0 { return berth_softmax_row_isa(nnVectorISA, src, dst, count) }
    let m = nnMax(src, count: count)
    let sum = nnExpShiftedSum(src, dst, count: count, shift: m)
    nnScale(dst, count: count, by: 1 / sum)
}

/// `exp(x)` for eight lanes, about 2e-7 relative error for x in [-87, 88]; below about -87.7
/// the result is exactly 0 (the true value is a float denormal). Range reduction
/// `x = n ln2 + r` with |r| <= ln2/2, a degree-5 minimax polynomial, and `2^n` built directly in
/// the exponent bits. A single-constant ln2 is enough: its rounding error (2e-9 n) only matters
/// for results far below 1e-5.
@inline(__always)
func nnExp(_ v: SIMD8<Float>) -> SIMD8<Float> {
    // `replacing(with:where:)` inlines to compare+blend (maxps here); pointwiseMin/Max are calls.
    let lo = SIMD8<Float>(repeating: -88.0), hi = SIMD8<Float>(repeating: 88.0)
    let x = v.replacing(with: lo, where: v .< lo).replacing(with: hi, where: v .> hi)
    return nnExpClamped(x)
}

/// `exp(x)` for x already in [-88, 88] (softmax arguments `x - max` only need the lower clamp).
@inline(__always)
func nnExpClamped(_ x: SIMD8<Float>) -> SIMD8<Float> {
    // Adding 1.5 * 2^23 rounds to an integer and leaves it in the low mantissa bits.
    let magic = SIMD8<Float>(repeating: 12_582_912.0)
    let t = x * 1.442_695_04 + magic
    let r = x - (t - magic) * 0.693_147_18
    let z = r * r
    var q = r * 0.008_312_505_67 + 0.041_890_095_92
    q = q * r + 0.166_671_141_98
    q = q * r + 0.499_992_311_0
    let p = q * z + r + 1
    // (n + 127) << 23 is 2^n; n = -127 gives the bit pattern of 0. NaN stays NaN through p.
    let bits = (unsafeBitCast(t, to: SIMD8<Int32>.self) &+ 127) &<< 23
    return p * unsafeBitCast(bits, to: SIMD8<Float>.self)
}

/// `dst[i] = exp(src[i] - shift)` for `count` elements with `src[i] <= shift + 88`; returns the sum of the results.
/// `src` and `dst` may be the same buffer.
@inline(__always)
func nnExpShiftedSum(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, count: Int, shift: Float) -> Float {
    if nnVectorISA > 0 { return berth_exp_shifted_sum_isa(nnVectorISA, src, dst, count, shift) }
    var i = 0
    var acc = SIMD8<Float>(repeating: 0)
    let s = SIMD8<Float>(repeating: shift)
    let lo = SIMD8<Float>(repeating: -88.0)
    let raw = UnsafeRawPointer(src), rawDst = UnsafeMutableRawPointer(dst)
    while i + 8 <= count {
        let x = raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
        let d = x - s
        let e = nnExpClamped(d.replacing(with: lo, where: d .< lo))
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
    if nnVectorISA > 0 { return berth_exp_shifted_sum_only_isa(nnVectorISA, src, count, shift) }
    var i = 0
    var acc = SIMD8<Float>(repeating: 0)
    let s = SIMD8<Float>(repeating: shift)
    let lo = SIMD8<Float>(repeating: -88.0)
    let raw = UnsafeRawPointer(src)
    while i + 8 <= count {
        let d = raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self) - s
        acc += nnExpClamped(d.replacing(with: lo, where: d .< lo))
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
            let v = raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
            acc = acc.replacing(with: v, where: v .> acc)
            i += 8
        }
        // Horizontal max by hand: SIMD.max() is an out-of-line generic call.
        m = acc[0]
        for j in 1..<8 { m = Swift.max(m, acc[j]) }
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
