import BerthONNX
import BerthTensor

/// DepthToSpace and SpaceToDepth: the reshape-transpose-reshape of the spec as one strided gather
/// over a six-axis view of the NCHW input.
extension TensorFamily {
    static func depthToSpace(_ x: Tensor, blocksize b: Int, crd: Bool, pool: ThreadPool) throws -> Tensor {
        guard x.rank == 4 else { throw KernelError("DepthToSpace needs a 4-D input, got shape \(x.shape)") }
        let n = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3]
        guard b > 0, c % (b &* b) == 0 else {
            throw KernelError("DepthToSpace blocksize \(b) must be positive with its square dividing the channels of \(x.shape)")
        }
        let oc = c / (b * b)
        let outShape = [n, oc, try mul(h, b), try mul(w, b)]
        let hw = h &* w
        // Source strides of (channel group, row block, column block): DCR is [b, b, C'], CRD [C', b, b].
        let (sc, sb1, sb2) = crd ? (b &* b &* hw, b &* hw, hw) : (hw, b &* oc &* hw, oc &* hw)
        let dims = [n, oc, h, b, w, b]
        let axes: [TFAxis] = [.affine(offset: 0, stride: c &* hw), .affine(offset: 0, stride: sc), .affine(offset: 0, stride: w),
                              .affine(offset: 0, stride: sb1), .affine(offset: 0, stride: 1), .affine(offset: 0, stride: sb2)]
        return try gather(x.storage, dims: dims, axes: axes, outShape: outShape, pool: pool)
    }

    static func spaceToDepth(_ x: Tensor, blocksize b: Int, pool: ThreadPool) throws -> Tensor {
        guard x.rank == 4 else { throw KernelError("SpaceToDepth needs a 4-D input, got shape \(x.shape)") }
        let n = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3]
        guard b > 0, h % b == 0, w % b == 0 else {
            throw KernelError("SpaceToDepth blocksize \(b) must be positive and divide the height and width of \(x.shape)")
        }
        let outShape = [n, try mul(try mul(c, b), b), h / b, w / b]
        let dims = [n, b, b, c, h / b, w / b]
        let axes: [TFAxis] = [.affine(offset: 0, stride: c &* h &* w), .affine(offset: 0, stride: w), .affine(offset: 0, stride: 1),
                              .affine(offset: 0, stride: h &* w), .affine(offset: 0, stride: b &* w), .affine(offset: 0, stride: b)]
        return try gather(x.storage, dims: dims, axes: axes, outShape: outShape, pool: pool)
    }

    /// `a * b`, or a kernel error on overflow.
    static func mul(_ a: Int, _ b: Int) throws -> Int {
        let (p, o) = a.multipliedReportingOverflow(by: b)
        guard !o else { throw KernelError("size \(a) x \(b) overflows") }
        return p
    }

    static func registerSpaceDepth(_ r: inout KernelRegistry) {
        r.register("DepthToSpace", opsets: 1...10) { node, _ in
            let b = try node.int("blocksize")
            return { inputs, ctx in [try depthToSpace(try inputs.required(0), blocksize: b, crd: false, pool: ctx.pool)] }
        }
        // 11 adds the CRD mode.
        r.register("DepthToSpace", opsets: 11...Int.max) { node, _ in
            let b = try node.int("blocksize")
            let mode = try node.string("mode", default: "DCR")
            guard mode == "DCR" || mode == "CRD" else { throw KernelError("DepthToSpace mode '\(mode)' must be DCR or CRD") }
            return { inputs, ctx in [try depthToSpace(try inputs.required(0), blocksize: b, crd: mode == "CRD", pool: ctx.pool)] }
        }
        r.register("SpaceToDepth") { node, _ in
            let b = try node.int("blocksize")
            return { inputs, ctx in [try spaceToDepth(try inputs.required(0), blocksize: b, pool: ctx.pool)] }
        }
    }
}
