import BerthONNX
import BerthTensor

/// The sliding-window attributes shared by Conv and the pooling ops (`auto_pad`, `pads`,
/// `strides`, `dilations`, `kernel_shape`, `ceil_mode`), parsed once at plan time.
struct NNWindowAttributes: Sendable {
    enum AutoPad: Sendable {
        case notSet, sameUpper, sameLower, valid

        /// Splits the `total` padding of one axis into (begin, end): SAME_UPPER puts the odd pad at
        /// the end, every other mode at the beginning (ONNX's rule for SAME_LOWER, and for
        /// ConvTranspose's `output_shape` whatever `auto_pad` is).
        @inline(__always)
        func split(total: Int) -> (begin: Int, end: Int) {
            self == .sameUpper ? (total / 2, total - total / 2) : (total - total / 2, total / 2)
        }
    }

    var autoPad: AutoPad
    /// `kernel_shape`, or nil when it must come from the weight tensor (Conv).
    var kernelShape: [Int]?
    var strides: [Int]?
    var dilations: [Int]?
    /// Begin pads for every spatial axis followed by end pads, as ONNX stores them.
    var pads: [Int]?
    var ceilMode: Bool

    init(node: Node) throws {
        switch try node.string("auto_pad", default: "NOTSET") {
        case "NOTSET", "": autoPad = .notSet
        case "SAME_UPPER": autoPad = .sameUpper
        case "SAME_LOWER": autoPad = .sameLower
        case "VALID": autoPad = .valid
        case let other: throw KernelError("unknown auto_pad '\(other)'")
        }
        kernelShape = try node.ints("kernel_shape")
        strides = try node.ints("strides")
        dilations = try node.ints("dilations")
        pads = try node.ints("pads")
        ceilMode = try node.int("ceil_mode", default: 0) != 0
        if let k = kernelShape, k.contains(where: { $0 <= 0 }) { throw KernelError("kernel_shape \(k) must be positive") }
        if let s = strides, s.contains(where: { $0 <= 0 }) { throw KernelError("strides \(s) must be positive") }
        if let d = dilations, d.contains(where: { $0 <= 0 }) { throw KernelError("dilations \(d) must be positive") }
        if let p = pads, p.contains(where: { $0 < 0 }) { throw KernelError("pads \(p) must not be negative") }
        // Bounds that keep every later index computation far from Int overflow.
        for (name, v) in [("kernel_shape", kernelShape), ("strides", strides), ("dilations", dilations), ("pads", pads)] {
            if let v, v.contains(where: { $0 > nnMaxWindowValue }) { throw KernelError("\(name) \(v) is implausibly large") }
        }
    }

    /// Resolves the window for an input with the given spatial extent.
    func geometry(input: [Int], kernel: [Int]) throws -> NNWindowGeometry {
        let n = input.count
        guard input.allSatisfy({ $0 <= nnMaxSpatialExtent }), kernel.allSatisfy({ $0 > 0 && $0 <= nnMaxWindowValue }) else {
            throw KernelError("spatial shape \(input) or kernel \(kernel) is out of range")
        }
        guard kernel.count == n else { throw KernelError("kernel_shape \(kernel) has \(kernel.count) axes, input has \(n) spatial axes \(input)") }
        let s = strides ?? Array(repeating: 1, count: n)
        let d = dilations ?? Array(repeating: 1, count: n)
        guard s.count == n else { throw KernelError("strides \(s) must have \(n) values") }
        guard d.count == n else { throw KernelError("dilations \(d) must have \(n) values") }
        var begin = [Int](repeating: 0, count: n)
        var end = [Int](repeating: 0, count: n)
        var out = [Int](repeating: 0, count: n)
        for i in 0..<n {
            let (ek, o1) = (kernel[i] - 1).multipliedReportingOverflow(by: d[i])
            guard !o1, ek < Int.max / 2 else { throw KernelError("kernel extent overflows") }
            let extent = ek + 1
            switch autoPad {
            case .notSet:
                if let p = pads {
                    guard p.count == 2 * n else { throw KernelError("pads \(p) must have \(2 * n) values") }
                    begin[i] = p[i]; end[i] = p[i + n]
                }
                let span = input[i] + begin[i] + end[i] - extent
                guard span >= 0 else {
                    throw KernelError("input spatial size \(input) (with pads) is smaller than the kernel extent on axis \(i)")
                }
                var o = (ceilMode ? (span + s[i] - 1) / s[i] : span / s[i]) + 1
                // A window that starts inside the end padding only is dropped (as PyTorch and ONNX Runtime do).
                if ceilMode, (o - 1) * s[i] >= input[i] + begin[i] { o -= 1 }
                out[i] = o
            case .valid:
                let span = input[i] - extent
                guard span >= 0 else { throw KernelError("input spatial size \(input) is smaller than the kernel extent on axis \(i)") }
                out[i] = (ceilMode ? (span + s[i] - 1) / s[i] : span / s[i]) + 1
            case .sameUpper, .sameLower:
                let o = (input[i] + s[i] - 1) / s[i]
                let total = max(0, (o - 1) * s[i] + extent - input[i])
                (begin[i], end[i]) = autoPad.split(total: total)
                out[i] = o
            }
        }
        return NNWindowGeometry(input: input, kernel: kernel, strides: s, dilations: d, padsBegin: begin, padsEnd: end, output: out)
    }
}

/// The largest kernel size, stride, dilation or pad accepted (attributes come from files).
let nnMaxWindowValue = 1 << 24
/// The largest spatial extent accepted; real tensors never get near it.
let nnMaxSpatialExtent = 1 << 36

/// A resolved sliding window over `input` spatial dims. Kernels run on a 3-D view: 1-D and 2-D
/// windows are padded at the front with size-1 axes so one loop nest covers 1-D, 2-D and 3-D.
struct NNWindowGeometry: Sendable {
    var input: [Int]
    var kernel: [Int]
    var strides: [Int]
    var dilations: [Int]
    var padsBegin: [Int]
    var padsEnd: [Int]
    var output: [Int]

    /// The geometry widened to exactly three spatial axes, or nil when there are more than three.
    var as3D: NNWindowGeometry? {
        let n = input.count
        guard n <= 3 else { return nil }
        let k = 3 - n
        func widen(_ a: [Int], _ fill: Int) -> [Int] { Array(repeating: fill, count: k) + a }
        return NNWindowGeometry(input: widen(input, 1), kernel: widen(kernel, 1), strides: widen(strides, 1),
                                dilations: widen(dilations, 1), padsBegin: widen(padsBegin, 0),
                                padsEnd: widen(padsEnd, 0), output: widen(output, 1))
    }

    /// For output position `o` on `axis`: the first input coordinate and the half-open range of
    /// kernel taps that land inside the input.
    @inline(__always)
    func taps(axis: Int, _ o: Int) -> (start: Int, lo: Int, hi: Int) {
        let d = dilations[axis]
        let start = o * strides[axis] - padsBegin[axis]
        let lo = start < 0 ? (-start + d - 1) / d : 0
        let size = input[axis]
        let hi = start >= size ? 0 : min(kernel[axis], (size - start + d - 1) / d)
        return (start, lo, max(lo, hi))
    }
}

/// Splits an NC... shape into (N, C, spatial).
@inline(__always)
func nnSplitNC(_ shape: [Int], op: String) throws -> (n: Int, c: Int, spatial: [Int]) {
    guard shape.count >= 3 else { throw KernelError("\(op) expects an input of rank >= 3 [N, C, spatial...], got shape \(shape)") }
    return (shape[0], shape[1], Array(shape[2...]))
}
