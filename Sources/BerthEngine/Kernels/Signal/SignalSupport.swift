import BerthONNX
import BerthTensor
import Foundation

// Shared by the signal family: scalar inputs, floating-point outputs, and a plain DFT.

/// The integer value of a scalar (or one-element) input.
func signalInteger(_ t: Tensor, _ what: String) throws -> Int {
    guard t.count == 1, !t.dtype.isFloatingPoint, t.dtype != .string, t.dtype != .bool else {
        throw KernelError("\(what) must be a single integer, got \(t.dtype)\(t.shape)")
    }
    return try t.integers()[0]
}

/// The value of a scalar (or one-element) numeric input.
func signalScalar(_ t: Tensor, _ what: String) throws -> Double {
    guard t.count == 1, t.dtype != .string else { throw KernelError("\(what) must be a single number, got \(t.dtype)\(t.shape)") }
    return t.storage.double(at: 0)
}

/// `values` as a tensor of `dtype` (an ONNX `output_datatype`): floating point, or integers
/// truncated toward zero as a cast would.
func signalTensor(_ values: [Double], shape: [Int], dtype: DType) throws -> Tensor {
    let storage: TensorStorage
    switch dtype {
    case .float32: storage = .float32(values.map { Float($0) })
    case .float64: storage = .float64(values)
    case .float16: storage = .float16(values.map { Float16($0) })
    case .int32: storage = .int32(values.map { Int32($0) })
    case .int64: storage = .int64(values.map { Int64($0) })
    default: throw KernelError("output_datatype \(dtype) is not supported here (float16, float32, float64, int32, int64)")
    }
    return try Tensor(shape: shape, storage: storage)
}

/// The `output_datatype` attribute (default float).
func signalOutputType(_ node: Node) throws -> DType {
    let code = try node.int("output_datatype", default: DType.float32.rawValue)
    guard let t = DType(rawValue: code) else { throw KernelError("\(node.opType) output_datatype \(code) is not a known type") }
    return t
}

/// A direct DFT of length `n` over complex input, with cos/sin tables; O(n·bins), which the
/// sizes of audio front ends (n ≤ a few thousand) afford.
struct PlainDFT {
    let n: Int
    let inverse: Bool
    private let cosTable: [Double], sinTable: [Double]

    init(n: Int, inverse: Bool) {
        self.n = n
        self.inverse = inverse
        cosTable = (0..<n).map { cos(2 * Double.pi * Double($0) / Double(n)) }
        sinTable = (0..<n).map { sin(2 * Double.pi * Double($0) / Double(n)) }
    }

    /// Bins 0..<bins of the transform of (re, im) (length ≤ n; missing samples are zero).
    /// The inverse transform is scaled by 1/n.
    func transform(re: [Double], im: [Double], bins: Int) -> (re: [Double], im: [Double]) {
        var outRe = [Double](repeating: 0, count: bins), outIm = [Double](repeating: 0, count: bins)
        let sign: Double = inverse ? 1 : -1
        let m = min(n, re.count)
        for k in 0..<bins {
            var sr = 0.0, si = 0.0
            var idx = 0
            for j in 0..<m {
                let c = cosTable[idx], s = sign * sinTable[idx]
                sr += re[j] * c - im[j] * s
                si += re[j] * s + im[j] * c
                idx += k
                if idx >= n { idx %= n }
            }
            if inverse { sr /= Double(n); si /= Double(n) }
            outRe[k] = sr
            outIm[k] = si
        }
        return (outRe, outIm)
    }
}
