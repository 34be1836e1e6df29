import BerthONNX
import BerthTensor
import Foundation

// Shared pieces of the ai.onnx.ml kernels. The arithmetic follows ONNX Runtime's CPU kernels
// (onnxruntime/core/providers/cpu/ml) step for step, including float32 accumulation where ORT
// accumulates in float, because users compare Berth's scores with ORT's to the last digits.

/// A classic-ML input viewed as rows × features (a 1-D input is one row).
struct MLMatrix {
    var rows: Int
    var features: Int

    init(_ x: Tensor) throws {
        switch x.rank {
        case 1: rows = 1; features = x.shape[0]
        case 2: rows = x.shape[0]; features = x.shape[1]
        default: throw KernelError("X must be 1-D or 2-D, got shape \(x.shape)")
        }
    }
}

/// The elements of a float/double/int32/int64 input as float32, as ORT casts them.
func mlFloats(_ x: Tensor) throws -> [Float] {
    switch x.storage {
    case let .float32(v): return v
    case let .float64(v): return v.map { Float($0) }
    case let .int64(v): return v.map { Float($0) }
    case let .int32(v): return v.map { Float($0) }
    default: throw KernelError("X must be float, double, int64 or int32, got \(x.dtype)")
    }
}

/// The elements of a float/double/int32/int64 input as double (exact for every accepted type).
func mlDoubles(_ x: Tensor) throws -> [Double] {
    guard [.float32, .float64, .int64, .int32].contains(x.dtype) else {
        throw KernelError("X must be float, double, int64 or int32, got \(x.dtype)")
    }
    return x.doubles
}

/// Class labels of a classifier: `classlabels_strings` or `classlabels_int64s`/`classlabels_ints`.
enum ClassLabels {
    case strings([String])
    case ints([Int64])

    init(_ node: Node, intsKey: String) throws {
        if let s = try node.strings("classlabels_strings"), !s.isEmpty {
            self = .strings(s)
        } else {
            self = .ints((try node.ints(intsKey) ?? []).map { Int64($0) })
        }
    }

    var count: Int {
        switch self {
        case let .strings(s): return s.count
        case let .ints(i): return i.count
        }
    }

    var usesStrings: Bool { if case .strings = self { return true }; return false }
}

/// A label chosen either as an index into the class list or as a literal fallback value (ORT writes
/// "1"/"0" or 1/0 when a binary model does not list exactly two labels).
enum ChosenLabel {
    case index(Int)
    case literal(Int64)
}

extension ClassLabels {
    /// The label output, shape [n], for one chosen label per row.
    func tensor(_ chosen: [ChosenLabel]) -> Tensor {
        switch self {
        case let .strings(s):
            return Tensor(unchecked: [chosen.count], storage: .string(chosen.map {
                switch $0 { case let .index(i): return s[i]; case let .literal(v): return String(v) }
            }))
        case let .ints(v):
            return Tensor(unchecked: [chosen.count], storage: .int64(chosen.map {
                switch $0 { case let .index(i): return v[i]; case let .literal(l): return l }
            }))
        }
    }
}

/// The `post_transform` attribute of classifiers and regressors.
enum PostTransform: String {
    case none = "NONE", logistic = "LOGISTIC", softmax = "SOFTMAX", softmaxZero = "SOFTMAX_ZERO", probit = "PROBIT"

    init(_ node: Node) throws {
        let s = try node.string("post_transform", default: "NONE")
        guard let t = PostTransform(rawValue: s) else { throw KernelError("unknown post_transform '\(s)'") }
        self = t
    }
}

/// How a single binary score is expanded to two columns (ORT's `add_second_class`).
enum SecondClass {
    /// Leave the single score as it is.
    case none
    /// [1 - s, s] (probability-like scores).
    case complement
    /// [-s, s], or [logistic(-s), logistic(s)] under LOGISTIC (margin-like scores).
    case negate
}

@inline(__always) func mlLogistic(_ v: Float) -> Float {
    let e = 1 / (1 + Foundation.exp(-Swift.abs(v)))
    return v < 0 ? 1 - e : e
}

/// ORT's approximation of erfinv (Winitzki), used by PROBIT.
@inline(__always) func mlErfInv(_ x0: Float) -> Float {
    let sgn: Float = x0 < 0 ? -1 : 1
    let x = (1 - x0) * (1 + x0)
    let lg = Foundation.log(x)
    let v = 2 / (Float.pi * 0.147) + 0.5 * lg
    let v2 = 1 / Float(0.147) * lg
    let v3 = -v + (v * v - v2).squareRoot()
    return sgn * v3.squareRoot()
}

@inline(__always) func mlProbit(_ v: Float) -> Float { Float(2).squareRoot() * mlErfInv(2 * v - 1) }

func mlSoftmax(_ s: inout ArraySlice<Float>) {
    var vmax = -Float.greatestFiniteMagnitude
    for v in s where v > vmax { vmax = v }
    var sum: Float = 0
    for i in s.indices { s[i] = Foundation.exp(s[i] - vmax); sum += s[i] }
    for i in s.indices { s[i] /= sum }
}

/// Softmax that leaves (near-)zero scores at zero weight, as ORT's SOFTMAX_ZERO.
func mlSoftmaxZero(_ s: inout ArraySlice<Float>) {
    var vmax = -Float.greatestFiniteMagnitude
    for v in s where v > vmax { vmax = v }
    let expNegMax = Foundation.exp(-vmax)
    var sum: Float = 0
    for i in s.indices {
        if s[i] > 0.0000001 || s[i] < -0.0000001 {
            s[i] = Foundation.exp(s[i] - vmax); sum += s[i]
        } else {
            s[i] *= expNegMax
        }
    }
    for i in s.indices { s[i] /= sum }
}

/// Applies `transform` to one row of scores and writes it to `out` (which has room for two
/// columns when a single binary score is expanded). Mirrors ORT's `write_scores`.
func mlWriteScores(_ scores: [Float], _ transform: PostTransform, second: SecondClass,
                   into out: UnsafeMutablePointer<Float>) {
    if scores.count >= 2 {
        var s = scores[...]
        switch transform {
        case .probit: for i in s.indices { s[i] = mlProbit(s[i]) }
        case .logistic: for i in s.indices { s[i] = mlLogistic(s[i]) }
        case .softmax: mlSoftmax(&s)
        case .softmaxZero: mlSoftmaxZero(&s)
        case .none: break
        }
        for (i, v) in s.enumerated() { out[i] = v }
    } else if scores.count == 1 {
        let v = scores[0]
        if transform == .probit { out[0] = mlProbit(v); return }
        switch second {
        case .complement: out[0] = 1 - v; out[1] = v
        case .negate:
            if transform == .logistic { out[0] = mlLogistic(-v); out[1] = mlLogistic(v) } else { out[0] = -v; out[1] = v }
        case .none: out[0] = v
        }
    }
}

/// Applies `transform` row by row to a [rows, width] score matrix in place. Mirrors ORT's
/// `batched_update_scores_inplace` (width 1 rows are expanded to 2 columns into `out` per `second`).
func mlTransformRows(_ scores: [Float], rows: Int, width: Int, _ transform: PostTransform, second: SecondClass) -> [Float] {
    let outWidth = width == 1 && second != .none ? 2 : width
    var out = [Float](repeating: 0, count: rows * outWidth)
    out.withUnsafeMutableBufferPointer { o in
        for r in 0..<rows {
            let row = Array(scores[(r * width)..<(r * width + width)])
            if width == 1 && transform != .probit && second == .none {
                o[r * outWidth] = row[0]
            } else {
                mlWriteScores(row, transform, second: second, into: o.baseAddress! + r * outWidth)
            }
        }
    }
    return out
}

/// X [rows, k] times W[n, k]^T into a [rows, n] float matrix, plus `bias` per column (or a scalar).
func mlGemmTransB(_ x: [Float], rows: Int, k: Int, _ w: [Float], n: Int, alpha: Float = 1, bias: [Float]) -> [Float] {
    var out = [Float](repeating: 0, count: rows * n)
    if !bias.isEmpty {
        for r in 0..<rows { for j in 0..<n { out[r * n + j] = bias.count == 1 ? bias[0] : bias[j] } }
    }
    guard rows > 0, n > 0 else { return out }
    x.withUnsafeBufferPointer { xp in
        w.withUnsafeBufferPointer { wp in
            out.withUnsafeMutableBufferPointer { op in
                BLAS.sgemm(transA: false, transB: true, m: rows, n: n, k: k, alpha: alpha,
                           a: xp.baseAddress!, lda: k, b: wp.baseAddress!, ldb: k,
                           beta: bias.isEmpty ? 0 : 1, c: op.baseAddress!, ldc: n)
            }
        }
    }
    return out
}
