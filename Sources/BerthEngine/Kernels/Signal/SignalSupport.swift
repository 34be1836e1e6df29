import BerthONNX
import BerthTensor
import Foundation

// Shared by the signal family: scalar inputs, the output_datatype attribute, and a plain DFT.

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
