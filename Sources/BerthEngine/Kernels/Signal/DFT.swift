import BerthONNX
import BerthTensor
import Foundation

extension KernelRegistry {
    /// DFT: opsets 17–19 take `axis` as an attribute (default 1), 20+ as an optional input
    /// (default -2). Input [..., 1] (real) or [..., 2] (complex); output [..., 2], the axis
    /// resized to `dft_length` (default: its length), or to dft_length/2 + 1 when `onesided`.
    mutating func registerDFT() {
        register("DFT", opsets: 17...19) { node, _ in
            let options = try DFTOptions(node, axis: try node.int("axis", default: 1))
            return { inputs, _ in [try dft(try inputs.required(0), length: inputs.optional(1), axis: options.axis, options)] }
        }
        register("DFT", opsets: 20...Int.max) { node, _ in
            let options = try DFTOptions(node, axis: -2)
            return { inputs, _ in
                let axis = try inputs.optional(2).map { try signalInteger($0, "DFT axis") } ?? options.axis
                return [try dft(try inputs.required(0), length: inputs.optional(1), axis: axis, options)]
            }
        }
    }
}

struct DFTOptions {
    var axis: Int
    var inverse: Bool
    var onesided: Bool

    init(_ node: Node, axis: Int) throws {
        self.axis = axis
        inverse = try node.int("inverse", default: 0) != 0
        onesided = try node.int("onesided", default: 0) != 0
        // ONNX Runtime refuses this pair too: the inverse of a one-sided spectrum needs the
        // conjugate half rebuilt, which the spec leaves undefined.
        if inverse && onesided { throw KernelError("DFT with both inverse and onesided set is not supported") }
    }
}

/// The DFT of `x` along `axisAttr` (not the last, complex-component axis).
func dft(_ x: Tensor, length: Tensor?, axis axisAttr: Int, _ o: DFTOptions) throws -> Tensor {
    guard x.dtype.isFloatingPoint else { throw KernelError("DFT input must be floating point, got \(x.dtype)") }
    guard x.rank >= 2, let comps = x.shape.last, comps == 1 || comps == 2 else {
        throw KernelError("DFT input must be [..., 1] (real) or [..., 2] (complex), got shape \(x.shape)")
    }
    let signalRank = x.rank - 1
    // Negative axes count from the back of the whole input, components axis included.
    let axis = try TensorFamily.axis(axisAttr, rank: x.rank, "DFT axis")
    guard axis < signalRank else { throw KernelError("DFT axis \(axisAttr) is the complex-component axis of shape \(x.shape)") }
    let inLength = x.shape[axis]
    let n = try length.map { try signalInteger($0, "DFT dft_length") } ?? inLength
    guard n > 0 else { throw KernelError("DFT dft_length must be positive, got \(n)") }
    let bins = o.onesided ? n / 2 + 1 : n
    var outShape = x.shape
    outShape[axis] = bins
    outShape[x.rank - 1] = 2
    let total = try TensorFamily.count(outShape)
    let outer = x.shape[..<axis].reduce(1, *)
    let inner = x.shape[(axis + 1)..<signalRank].reduce(1, *)
    let v = x.doubles
    var out = [Double](repeating: 0, count: total)
    let plan = PlainDFT(n: n, inverse: o.inverse)
    let used = min(n, inLength)
    var re = [Double](repeating: 0, count: used), im = [Double](repeating: 0, count: used)
    for a in 0..<outer {
        for b in 0..<inner {
            for j in 0..<used {
                let base = ((a * inLength + j) * inner + b) * comps
                re[j] = v[base]
                im[j] = comps == 2 ? v[base + 1] : 0
            }
            let (r, i) = plan.transform(re: re, im: im, bins: bins)
            for k in 0..<bins {
                let base = ((a * bins + k) * inner + b) * 2
                out[base] = r[k]
                out[base + 1] = i[k]
            }
        }
    }
    return try doublesTensor(out, shape: outShape, dtype: x.dtype)
}
