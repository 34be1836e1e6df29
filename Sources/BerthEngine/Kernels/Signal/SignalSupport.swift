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

/// A DFT of length `n` over complex input: radix-2 FFT when `n` is a power of two, else a
/// direct transform with cos/sin tables (O(n·bins), which the window lengths of audio front
/// ends afford). Both accumulate in Double.
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
        if n > 1 && n & (n - 1) == 0 { return fft(re: re, im: im, bins: bins) }
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

    /// Iterative radix-2 decimation-in-time FFT over the zero-padded input.
    private func fft(re: [Double], im: [Double], bins: Int) -> (re: [Double], im: [Double]) {
        var xr = [Double](repeating: 0, count: n), xi = xr
        let m = min(n, re.count)
        // Bit-reversed placement.
        var bits = 0
        while 1 << bits < n { bits += 1 }
        for j in 0..<m {
            var r = 0, v = j
            for _ in 0..<bits { r = (r << 1) | (v & 1); v >>= 1 }
            xr[r] = re[j]
            xi[r] = im[j]
        }
        let sign: Double = inverse ? 1 : -1
        var size = 2
        while size <= n {
            let half = size / 2, step = n / size
            for start in stride(from: 0, to: n, by: size) {
                for k in 0..<half {
                    let c = cosTable[k * step], s = sign * sinTable[k * step]
                    let (ar, ai) = (xr[start + k + half], xi[start + k + half])
                    let tr = ar * c - ai * s, ti = ar * s + ai * c
                    xr[start + k + half] = xr[start + k] - tr
                    xi[start + k + half] = xi[start + k] - ti
                    xr[start + k] += tr
                    xi[start + k] += ti
                }
            }
            size *= 2
        }
        if inverse { for k in 0..<n { xr[k] /= Double(n); xi[k] /= Double(n) } }
        return (Array(xr[..<bins]), Array(xi[..<bins]))
    }
}
