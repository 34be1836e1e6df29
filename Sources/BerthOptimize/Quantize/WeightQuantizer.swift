/// Symmetric int8 quantization of a weight matrix, as ONNX Runtime's quantizer does for signed
/// weights: values in [-127, 127] (the symmetric range, so -128 never appears and the zero point
/// is 0), scale = max|w| / 127 per tensor or per output column, rounding half to even.
public struct QuantizedWeights: Sendable, Equatable {
    /// int8 values, row-major [K, N] like the float matrix.
    public var values: [Int8]
    /// One scale, or one per column (N).
    public var scales: [Float]

    /// Quantizes `w` ([K, N] row-major), per column when `perChannel`, to [-`levels`, `levels`]
    /// (127; 63 is ONNX Runtime's reduced range for CPUs without VNNI).
    public init(_ w: [Float], rows k: Int, columns n: Int, perChannel: Bool, levels: Int = 127) {
        precondition(w.count == k * n && (1...127).contains(levels))
        let top = Float(levels)
        func scale(_ absMax: Float) -> Float { absMax > 0 && absMax.isFinite ? absMax / top : 1 }
        if perChannel {
            var maxes = [Float](repeating: 0, count: n)
            for i in 0..<k { for j in 0..<n { maxes[j] = max(maxes[j], abs(w[i * n + j])) } }
            scales = maxes.map(scale)
        } else {
            scales = [scale(w.reduce(0) { max($0, abs($1)) })]
        }
        var out = [Int8](repeating: 0, count: w.count)
        for i in 0..<k {
            for j in 0..<n {
                let s = scales.count == 1 ? scales[0] : scales[j]
                let q = (w[i * n + j] / s).rounded(.toNearestOrEven)
                out[i * n + j] = Int8(max(-top, min(top, q.isFinite ? q : 0)))
            }
        }
        values = out
    }

    /// The largest absolute difference between `w` and its dequantized values, per the scales (≤ scale / 2).
    public func maxError(against w: [Float], columns n: Int) -> Float {
        var e: Float = 0
        for (i, q) in values.enumerated() {
            let s = scales.count == 1 ? scales[0] : scales[i % n]
            e = max(e, abs(Float(q) * s - w[i]))
        }
        return e
    }
}
