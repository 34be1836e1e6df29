#if canImport(CDNNL)
import CDNNL
import Foundation

extension DNNL {
    /// What fixes a 1x1 convolution with a fused 3x3 depthwise one: the 1x1's spec (its `output`
    /// is the expanded tensor the depthwise reads) and the depthwise's stride, bias and activation.
    struct PointwiseDepthwiseSpec: Hashable, Sendable {
        /// The 1x1 convolution (group 1, stride 1, no padding, no residual).
        var pointwise: ConvSpec
        /// The depthwise convolution's stride (1 or 2; its padding is 1 on every side).
        var stride: Int
        var depthwiseEltwise: [Eltwise]
        /// The activation layout of the source and the output: nChw16c (oneDNN 2.6's jit_1x1 also
        /// takes NHWC for the fusion, and computes wrong values there).
        var tag: dnnl_format_tag_t.RawValue
    }

    /// A 1x1 convolution (+ activation) and the 3x3 depthwise convolution (padding 1, stride 1 or 2,
    /// + activation) that alone reads its output, as one oneDNN primitive (the `dw` post-op,
    /// `dnnl_post_ops_append_dw`): oneDNN's jit_1x1 kernel writes the expanded rows into its
    /// scratchpad and runs the depthwise over them while they are in cache, so the expanded tensor
    /// (MobileNetV2's 96 channels at 112x112: 4.8 MB, more than a core's L2) never goes to memory.
    /// Built only with one OpenMP thread (oneDNN takes a reference path with more).
    final class PointwiseDepthwise: @unchecked Sendable {
        let spec: PointwiseDepthwiseSpec
        let conv: Primitive
        let srcMD: dnnl_memory_desc_t, dstMD: dnnl_memory_desc_t
        let weightsMD: dnnl_memory_desc_t, biasMD: dnnl_memory_desc_t
        let depthwiseWeightsMD: dnnl_memory_desc_t, depthwiseBiasMD: dnnl_memory_desc_t
        let scratchMD: dnnl_memory_desc_t
        /// The output's dims [N, C, H', W'] (H' = ceil(H / stride)).
        let output: [Int]
        private let weightsIn: Reorder?, depthwiseWeightsIn: Reorder?
        private let userWeightsMD: dnnl_memory_desc_t, userDepthwiseWeightsMD: dnnl_memory_desc_t

        /// Throws when oneDNN refuses the fusion or offers only its reference kernel for it.
        init(_ spec: PointwiseDepthwiseSpec) throws {
            guard let engine = DNNL.engine else { throw Failure(call: "engine_create", status: 0) }
            let p = spec.pointwise
            guard p.input.count == 4, p.output.count == 4, p.group == 1, spec.stride == 1 || spec.stride == 2 else {
                throw Failure(call: "pointwise-depthwise shape \(p)", status: 0)
            }
            self.spec = spec
            omp_set_num_threads(1)
            let tag = dnnl_format_tag_t(rawValue: spec.tag)
            var src = try DNNL.typedDesc(p.input, dnnl_f32, tag)
            var mid = try DNNL.typedDesc(p.output, dnnl_f32, tag)
            var w = try DNNL.anyDesc(p.weights)
            var b = p.hasBias ? try DNNL.plainDesc([p.weights[0]]) : dnnl_memory_desc_t()
            var desc = dnnl_convolution_desc_t()
            let one = DNNL.padded([1, 1]), zero = DNNL.padded([0, 0])
            let status = p.hasBias
                ? dnnl_convolution_forward_desc_init(&desc, dnnl_forward_inference, dnnl_convolution_direct, &src, &w, &b, &mid, one, zero, zero)
                : dnnl_convolution_forward_desc_init(&desc, dnnl_forward_inference, dnnl_convolution_direct, &src, &w, nil, &mid, one, zero, zero)
            try check(status, "convolution_forward_desc_init \(p)")
            var attr: dnnl_primitive_attr_t?
            try check(dnnl_primitive_attr_create(&attr), "primitive_attr_create")
            defer { dnnl_primitive_attr_destroy(attr) }
            // User scratchpad: each call brings its own, so one primitive can run from two threads.
            // (In NHWC, which this never asks for, oneDNN 2.6's fused kernel also wrote 16–32 kB past
            // the scratchpad size it reports; in nChw16c a guard page after it stayed untouched.)
            try check(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user), "set_scratchpad_mode")
            var po: dnnl_post_ops_t?
            try check(dnnl_post_ops_create(&po), "post_ops_create")
            defer { dnnl_post_ops_destroy(po) }
            try Eltwise.append(p.eltwise, to: po)
            try check(dnnl_post_ops_append_dw(po, dnnl_f32, dnnl_f32, dnnl_f32, 3, Int64(spec.stride), 1, 0, 0, nil), "post_ops_append_dw")
            try Eltwise.append(spec.depthwiseEltwise, to: po)
            try check(dnnl_primitive_attr_set_post_ops(attr, po), "set_post_ops")
            var pd: dnnl_primitive_desc_t?
            try withUnsafeBytes(of: &desc) { d in
                try check(dnnl_primitive_desc_create(&pd, d.baseAddress, attr, engine, nil), "pointwise-depthwise primitive_desc_create \(p)")
            }
            guard let pd else { throw Failure(call: "primitive_desc_create", status: 0) }
            conv = try Primitive(pd: pd)
            // ref_fused_convolution runs the two convolutions one after the other through a
            // scratchpad: no gain, so the region keeps them apart.
            guard !conv.implementation.hasPrefix("ref") else { throw Failure(call: "pointwise-depthwise: only \(conv.implementation)", status: 0) }
            srcMD = conv.md(dnnl_query_src_md)
            dstMD = conv.md(dnnl_query_dst_md)
            weightsMD = conv.md(dnnl_query_weights_md)
            biasMD = b
            scratchMD = conv.md(dnnl_query_scratchpad_md)
            depthwiseWeightsMD = dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, Int32(DNNL_ARG_ATTR_POST_OP_DW) | CDNNL_ARG_WEIGHTS)?.pointee ?? dnnl_memory_desc_t()
            depthwiseBiasMD = dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, Int32(DNNL_ARG_ATTR_POST_OP_DW) | CDNNL_ARG_BIAS)?.pointee ?? dnnl_memory_desc_t()
            let channels = p.output[1]
            guard depthwiseWeightsMD.ndims == 5, depthwiseBiasMD.ndims == 1, DNNL.same(depthwiseBiasMD, try DNNL.plainDesc([channels])) else {
                throw Failure(call: "pointwise-depthwise: unexpected depthwise argument layouts", status: 0)
            }
            let d = dstMD
            output = withUnsafeBytes(of: d.dims) { raw in (0..<Int(d.ndims)).map { Int(raw.load(fromByteOffset: 8 * $0, as: Int64.self)) } }
            userWeightsMD = try DNNL.plainDesc(p.weights)
            userDepthwiseWeightsMD = try DNNL.plainDesc([channels, 1, 1, 3, 3])
            weightsIn = DNNL.same(weightsMD, userWeightsMD) ? nil : try Reorder(from: userWeightsMD, to: weightsMD)
            depthwiseWeightsIn = DNNL.same(depthwiseWeightsMD, userDepthwiseWeightsMD) ? nil : try Reorder(from: userDepthwiseWeightsMD, to: depthwiseWeightsMD)
        }

        /// The 1x1's weights ([M, C, 1, 1] floats) and the depthwise's ([M, 1, 3, 3]) in the layouts
        /// this primitive reads.
        func packWeights(_ w: UnsafePointer<Float>, depthwise dw: UnsafePointer<Float>) throws -> (pointwise: Buffer, depthwise: Buffer) {
            (try DNNL.packWeights(w, into: weightsMD, via: weightsIn, threads: 1),
             try DNNL.packWeights(dw, into: depthwiseWeightsMD, via: depthwiseWeightsIn, threads: 1))
        }

        /// `dst = act2(depthwise(act1(conv1x1(src) + bias)) + depthwiseBias)`; `src` in `srcMD`, `dst` in `dstMD`.
        func run(src: UnsafeMutableRawPointer, weights: (pointwise: Buffer, depthwise: Buffer), bias: UnsafePointer<Float>?,
                 depthwiseBias: UnsafePointer<Float>, dst: UnsafeMutableRawPointer, pool: BufferPool) throws {
            let scratch = pool.take(DNNL.size(scratchMD))
            defer { pool.give(scratch) }
            let dwArg = Int32(DNNL_ARG_ATTR_POST_OP_DW)
            var args: [(Int32, dnnl_memory_desc_t, UnsafeMutableRawPointer)] = [
                (CDNNL_ARG_SRC, srcMD, src), (CDNNL_ARG_WEIGHTS, weightsMD, weights.pointwise.pointer),
                (CDNNL_ARG_DST, dstMD, dst), (CDNNL_ARG_SCRATCHPAD, scratchMD, scratch.pointer),
                (dwArg | CDNNL_ARG_WEIGHTS, depthwiseWeightsMD, weights.depthwise.pointer),
                (dwArg | CDNNL_ARG_BIAS, depthwiseBiasMD, UnsafeMutableRawPointer(mutating: depthwiseBias)),
            ]
            if let bias { args.append((CDNNL_ARG_BIAS, biasMD, UnsafeMutableRawPointer(mutating: bias))) }
            try conv.execute(args)
        }
    }
}
#endif
