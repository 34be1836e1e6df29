#if canImport(CDNNL)
import CDNNL

// oneDNN's int8 matmul (u8·s8 or s8·s8 → s32), kept beside DNNL.swift so the fp32 layer stays as
// it is. Zero points are not given to oneDNN: the caller subtracts them from the exact int32 sums
// (row and column sums of the operands), which keeps one primitive per shape and works for the
// per-row / per-column zero points ONNX allows.

extension DNNL {
    /// True when the CPU multiplies 8-bit operands with VNNI (AVX-512 VNNI or AVX-VNNI). Without
    /// it oneDNN uses `vpmaddubsw`, whose 16-bit pair sums saturate, so integer outputs would not
    /// be exact: MatMulInteger then keeps the portable path (ORT's `reduce_range` exists for this).
    static let hasVNNI: Bool = {
        let isa = dnnl_get_effective_cpu_isa().rawValue
        let avx512VNNI = dnnl_cpu_isa_avx512_core_vnni.rawValue, avxVNNI = dnnl_cpu_isa_avx2_vnni.rawValue
        return isa & avx512VNNI == avx512VNNI || isa & avxVNNI == avxVNNI
    }()

    /// The float epilogue oneDNN applies inside an int8 primitive, so it writes f32 directly (no
    /// int32 buffer, no per-element pass after it):
    ///
    ///     dst = relu?(Σ (x − zx)·w · weightScales[c] · xScale + bias[c])
    ///
    /// `weightScales` are constant output scales (oneDNN 2.6's brgemm kernels refuse run-time
    /// ones); the activation's zero point, its scale and the bias are run-time arguments (a zero
    /// point attribute and two binary post-ops), so dynamic quantization keeps one primitive.
    struct Int8Epilogue: Hashable, Sendable {
        /// One value, or one per output channel.
        var weightScales: [Float]
        var relu: Bool
        /// Exact (erf) GELU after the bias (an FFN's activation), instead of Relu.
        var gelu: Bool = false
    }

    /// Primitive attributes for `epilogue` on an output of `rank` dimensions with `channels`
    /// channels on axis 1 (the caller destroys them).
    /// `biasPostOp: false` leaves the bias out (a primitive that takes it as its own bias argument).
    static func epilogueAttributes(_ epilogue: Int8Epilogue, rank: Int, channels: Int, biasPostOp: Bool = true) throws -> dnnl_primitive_attr_t? {
        var attr: dnnl_primitive_attr_t?
        try check(dnnl_primitive_attr_create(&attr), "primitive_attr_create")
        do {
            try check(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user), "set_scratchpad_mode")
            let ws = epilogue.weightScales
            try check(dnnl_primitive_attr_set_output_scales(attr, Int64(ws.count), ws.count == 1 ? 0 : 1 << 1, ws), "set_output_scales")
            var runtimeZero = DNNL_RUNTIME_S32_VAL_REP
            try check(dnnl_primitive_attr_set_zero_points(attr, CDNNL_ARG_SRC, 1, 0, &runtimeZero), "set_zero_points")
            var po: dnnl_post_ops_t?
            try check(dnnl_post_ops_create(&po), "post_ops_create")
            defer { dnnl_post_ops_destroy(po) }
            var scalar = try epilogueScaleDesc(rank: rank), bias = try epilogueBiasDesc(rank: rank, channels: channels)
            try check(dnnl_post_ops_append_binary(po, dnnl_binary_mul, &scalar), "post_ops_append_binary mul")
            if biasPostOp { try check(dnnl_post_ops_append_binary(po, dnnl_binary_add, &bias), "post_ops_append_binary add") }
            if epilogue.relu { try check(dnnl_post_ops_append_eltwise(po, 1, dnnl_eltwise_relu, 0, 0), "post_ops_append_eltwise") }
            if epilogue.gelu { try check(dnnl_post_ops_append_eltwise(po, 1, dnnl_eltwise_gelu_erf, 0, 0), "post_ops_append_eltwise gelu_erf") }
            try check(dnnl_primitive_attr_set_post_ops(attr, po), "set_post_ops")
        } catch {
            dnnl_primitive_attr_destroy(attr)
            throw error
        }
        return attr
    }

    /// The activation scale's operand: one f32 broadcast over the output.
    static func epilogueScaleDesc(rank: Int) throws -> dnnl_memory_desc_t {
        try typedDesc([Int](repeating: 1, count: rank), dnnl_f32, [dnnl_a, dnnl_ab, dnnl_abc, dnnl_abcd, dnnl_abcde][rank - 1])
    }

    /// The bias operand: [1, C, 1, …] f32.
    static func epilogueBiasDesc(rank: Int, channels: Int) throws -> dnnl_memory_desc_t {
        var dims = [Int](repeating: 1, count: rank)
        dims[1] = channels
        return try typedDesc(dims, dnnl_f32, [dnnl_a, dnnl_ab, dnnl_abc, dnnl_abcd, dnnl_abcde][rank - 1])
    }

    /// oneDNN's argument ids for the epilogue's run-time operands.
    static let epilogueZeroArg = Int32(DNNL_ARG_ATTR_ZERO_POINTS) | CDNNL_ARG_SRC
    static let epilogueScaleArg = Int32(DNNL_ARG_ATTR_MULTIPLE_POST_OP_BASE) * 1 | Int32(DNNL_ARG_SRC_1)
    static let epilogueBiasArg = Int32(DNNL_ARG_ATTR_MULTIPLE_POST_OP_BASE) * 2 | Int32(DNNL_ARG_SRC_1)

    /// What fixes an int8 matmul primitive.
    struct Int8MatMulSpec: Hashable, Sendable {
        var m: Int
        var k: Int
        var n: Int
        /// The activation (A) is int8 rather than uint8.
        var signedA: Bool
        /// The stored weight is [N, K] (Gemm's transB) rather than [K, N].
        var transposedB: Bool
        var threads: Int
        /// Write f32 through this epilogue (the activation's zero point applied by oneDNN) instead
        /// of the bare int32 sums.
        var epilogue: Int8Epilogue? = nil
        /// Run the product as a 1×1 convolution (see ``Int8MatMul``'s init: the faster kernel without VNNI).
        var asConvolution = false
    }

    /// `C[M, N] (int32) = A[M, K] (u8 or s8) · B[K, N] (s8)` on oneDNN's int8 kernels, with B
    /// reordered once into the layout the primitive reads.
    final class Int8MatMul: @unchecked Sendable {
        let spec: Int8MatMulSpec
        let matmul: Primitive
        let srcMD: dnnl_memory_desc_t, weightsMD: dnnl_memory_desc_t, dstMD: dnnl_memory_desc_t, scratchMD: dnnl_memory_desc_t
        let userWeightsMD: dnnl_memory_desc_t
        let weightsIn: Reorder?
        /// The epilogue's run-time operands (unused without one).
        let scaleMD: dnnl_memory_desc_t, biasMD: dnnl_memory_desc_t
        /// The activation zero point's operand (one s32), made once rather than per call.
        let zeroMD: dnnl_memory_desc_t

        init(_ spec: Int8MatMulSpec) throws {
            guard let engine = DNNL.engine else { throw Failure(call: "engine_create", status: 0) }
            self.spec = spec
            omp_set_num_threads(Int32(spec.threads))
            // Without VNNI oneDNN 2.6's int8 matmul is `gemm:jit`, which packs the weights on every
            // call; the same product as a 1×1 convolution over W = M pixels (src [M, K] is its NHWC
            // layout, dst [M, N] too) runs `jit_uni_int8_1x1` on weights blocked once (M = 1, K = 1000,
            // N = 256: 2.5 µs instead of 10.9, one thread).
            let asConvolution = spec.asConvolution
            let rank = asConvolution ? 4 : 2
            let srcType = spec.signedA ? dnnl_s8 : dnnl_u8, dstType = spec.epilogue == nil ? dnnl_s32 : dnnl_f32
            var desc = dnnl_matmul_desc_t()
            var convDesc = dnnl_convolution_desc_t()
            if asConvolution {
                var src = try DNNL.typedDesc([1, spec.k, 1, spec.m], srcType, dnnl_acdb)
                var w = try DNNL.typedDesc([spec.n, spec.k, 1, 1], dnnl_s8, dnnl_format_tag_any)
                var dst = try DNNL.typedDesc([1, spec.n, 1, spec.m], dstType, dnnl_acdb)
                // Stored [N, K] (transposed) is OIHW; stored [K, N] is IOHW.
                userWeightsMD = try DNNL.typedDesc([spec.n, spec.k, 1, 1], dnnl_s8, spec.transposedB ? dnnl_abcd : dnnl_bacd)
                let one: [Int64] = [1, 1] + [Int64](repeating: 0, count: 10), zero = [Int64](repeating: 0, count: 12)
                // oneDNN 2.6's AVX2 1×1 kernel refuses a per-channel binary add: the bias is the
                // convolution's own, which int8 convolutions add before the output scales (``run``
                // divides it by them).
                var bias = try DNNL.typedDesc([spec.n], dnnl_f32, dnnl_a)
                try withUnsafeMutablePointer(to: &bias) { b in
                    try check(dnnl_dilated_convolution_forward_desc_init(&convDesc, dnnl_forward_inference, dnnl_convolution_direct, &src, &w,
                                                                         spec.epilogue == nil ? nil : b, &dst, one, zero, zero, zero),
                              "int8 1x1 convolution_desc_init \(spec)")
                }
            } else {
                var src = try DNNL.typedDesc([spec.m, spec.k], srcType, dnnl_ab)
                var w = try DNNL.typedDesc([spec.k, spec.n], dnnl_s8, dnnl_format_tag_any)
                var dst = try DNNL.typedDesc([spec.m, spec.n], dstType, dnnl_ab)
                userWeightsMD = try DNNL.typedDesc([spec.k, spec.n], dnnl_s8, spec.transposedB ? dnnl_ba : dnnl_ab)
                try check(dnnl_matmul_desc_init(&desc, &src, &w, nil, &dst), "matmul_desc_init \(spec)")
            }
            var attr: dnnl_primitive_attr_t?
            if let epilogue = spec.epilogue {
                attr = try DNNL.epilogueAttributes(epilogue, rank: rank, channels: spec.n, biasPostOp: !asConvolution)
            } else {
                try check(dnnl_primitive_attr_create(&attr), "primitive_attr_create")
                try check(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user), "set_scratchpad_mode")
            }
            defer { dnnl_primitive_attr_destroy(attr) }
            var pd: dnnl_primitive_desc_t?
            if asConvolution {
                try withUnsafeBytes(of: &convDesc) { d in
                    try check(dnnl_primitive_desc_create(&pd, d.baseAddress, attr, engine, nil), "int8 1x1 convolution primitive_desc_create \(spec)")
                }
            } else {
                try withUnsafeBytes(of: &desc) { d in
                    try check(dnnl_primitive_desc_create(&pd, d.baseAddress, attr, engine, nil), "int8 matmul primitive_desc_create \(spec)")
                }
            }
            guard let pd else { throw Failure(call: "primitive_desc_create", status: 0) }
            var name: UnsafePointer<CChar>?
            _ = dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &name)
            // The reference kernels are far slower than the portable path: refuse them.
            guard !(name.map { String(cString: $0) } ?? "ref").hasPrefix("ref") else {
                dnnl_primitive_desc_destroy(pd)
                throw Failure(call: "int8 matmul picked a reference kernel", status: 0)
            }
            matmul = try Primitive(pd: pd)
            if spec.epilogue != nil {
                scaleMD = try DNNL.epilogueScaleDesc(rank: rank)
                biasMD = asConvolution ? try DNNL.typedDesc([spec.n], dnnl_f32, dnnl_a) : try DNNL.epilogueBiasDesc(rank: rank, channels: spec.n)
            } else {
                scaleMD = dnnl_memory_desc_t()
                biasMD = dnnl_memory_desc_t()
            }
            srcMD = matmul.md(dnnl_query_src_md)
            weightsMD = matmul.md(dnnl_query_weights_md)
            dstMD = matmul.md(dnnl_query_dst_md)
            scratchMD = matmul.md(dnnl_query_scratchpad_md)
            weightsIn = DNNL.same(weightsMD, userWeightsMD) ? nil : try Reorder(from: userWeightsMD, to: weightsMD)
            zeroMD = try DNNL.typedDesc([1], dnnl_s32, dnnl_a)
        }

        /// The int8 weights (as stored: [K, N], or [N, K] when transposed) in this primitive's layout.
        func packWeights(_ w: UnsafePointer<Int8>) throws -> Buffer {
            try DNNL.packWeights(w, into: weightsMD, via: weightsIn, threads: spec.threads)
        }

        /// `dst = src · weights` (exact int32 sums).
        func run(src: UnsafeRawPointer, weights: Buffer, dst: UnsafeMutablePointer<Int32>) throws {
            omp_set_num_threads(Int32(spec.threads))
            let scratch = Buffer(bytes: DNNL.size(scratchMD))
            try matmul.execute([
                (CDNNL_ARG_SRC, srcMD, UnsafeMutableRawPointer(mutating: src)), (CDNNL_ARG_WEIGHTS, weightsMD, weights.pointer),
                (CDNNL_ARG_DST, dstMD, UnsafeMutableRawPointer(dst)), (CDNNL_ARG_SCRATCHPAD, scratchMD, scratch.pointer),
            ])
        }

        /// `dst = epilogue(src − zeroPoint, weights)` in f32, for a primitive made with an epilogue;
        /// `bias` has N values.
        func run(src: UnsafeRawPointer, zeroPoint: Int32, scale: Float, bias: UnsafePointer<Float>, weights: Buffer,
                 dst: UnsafeMutablePointer<Float>) throws {
            omp_set_num_threads(Int32(spec.threads))
            let scratch = Buffer(bytes: DNNL.size(scratchMD))
            var zero = zeroPoint, s = scale
            // The 1×1-convolution form adds its bias before both scales: bias / (weight scale · scale).
            var unscaled: [Float] = []
            if spec.asConvolution, let ws = spec.epilogue?.weightScales {
                unscaled = (0..<spec.n).map { bias[$0] / (ws[ws.count == 1 ? 0 : $0] * scale) }
                guard unscaled.allSatisfy({ $0.isFinite }) else { throw Failure(call: "int8 1x1 convolution bias out of range", status: 0) }
            }
            try withUnsafeMutablePointer(to: &zero) { z in
                try withUnsafeMutablePointer(to: &s) { sp in
                    try unscaled.withUnsafeMutableBufferPointer { ub in
                        try matmul.execute([
                            (CDNNL_ARG_SRC, srcMD, UnsafeMutableRawPointer(mutating: src)), (CDNNL_ARG_WEIGHTS, weightsMD, weights.pointer),
                            (CDNNL_ARG_DST, dstMD, UnsafeMutableRawPointer(dst)), (CDNNL_ARG_SCRATCHPAD, scratchMD, scratch.pointer),
                            (DNNL.epilogueZeroArg, zeroMD, UnsafeMutableRawPointer(z)),
                            (DNNL.epilogueScaleArg, scaleMD, UnsafeMutableRawPointer(sp)),
                            spec.asConvolution ? (CDNNL_ARG_BIAS, biasMD, UnsafeMutableRawPointer(ub.baseAddress!))
                                               : (DNNL.epilogueBiasArg, biasMD, UnsafeMutableRawPointer(mutating: bias)),
                        ])
                    }
                }
            }
        }
    }

    /// What fixes an int8 convolution primitive (ONNX geometry as in ``ConvSpec``).
    struct Int8ConvSpec: Hashable, Sendable {
        var input: [Int]
        var output: [Int]
        var weights: [Int]
        var group: Int
        var strides: [Int]
        var dilations: [Int]
        var padsBegin: [Int]
        var padsEnd: [Int]
        /// The input is int8 rather than uint8.
        var signedSrc: Bool
        var threads: Int
        /// Write f32 through this epilogue instead of the bare int32 sums.
        var epilogue: Int8Epilogue? = nil
    }

    /// `dst (int32) = conv(src − src_zero_point, weights)` on oneDNN's int8 convolutions: the input
    /// zero point is a run-time attribute, so padding counts as the zero point (ONNX's ConvInteger);
    /// weights (int8, zero point 0) are reordered once; activations are reordered into the blocked
    /// layout and back around each call.
    final class Int8Convolution: @unchecked Sendable {
        let spec: Int8ConvSpec
        let conv: Primitive
        let srcMD: dnnl_memory_desc_t, weightsMD: dnnl_memory_desc_t, dstMD: dnnl_memory_desc_t, scratchMD: dnnl_memory_desc_t
        let zeroMD: dnnl_memory_desc_t
        let userWeightsMD: dnnl_memory_desc_t
        let srcIn: Reorder?, dstOut: Reorder?, weightsIn: Reorder?
        /// The epilogue's run-time operands (unused without one).
        let scaleMD: dnnl_memory_desc_t, biasMD: dnnl_memory_desc_t
        /// oneDNN's name for the kernel it picked (e.g. `brg:avx512_core_vnni`).
        let implementation: String

        init(_ spec: Int8ConvSpec) throws {
            guard let engine = DNNL.engine else { throw Failure(call: "engine_create", status: 0) }
            self.spec = spec
            omp_set_num_threads(Int32(spec.threads))
            let tags = [dnnl_abc, dnnl_abcd, dnnl_abcde, dnnl_abcdef]
            guard (3...5).contains(spec.input.count) else { throw Failure(call: "int8 convolution of rank \(spec.input.count)", status: 0) }
            let srcType = spec.signedSrc ? dnnl_s8 : dnnl_u8
            let userSrc = try DNNL.typedDesc(spec.input, srcType, tags[spec.input.count - 3])
            let dstType = spec.epilogue == nil ? dnnl_s32 : dnnl_f32
            let userDst = try DNNL.typedDesc(spec.output, dstType, tags[spec.output.count - 3])
            let wDims = spec.group == 1 ? spec.weights : [spec.group, spec.weights[0] / spec.group] + spec.weights.dropFirst()
            userWeightsMD = try DNNL.typedDesc(wDims, dnnl_s8, tags[wDims.count - 3])
            var src = try DNNL.typedDesc(spec.input, srcType, dnnl_format_tag_any)
            var dst = try DNNL.typedDesc(spec.output, dstType, dnnl_format_tag_any)
            var w = try DNNL.typedDesc(wDims, dnnl_s8, dnnl_format_tag_any)
            func dims(_ v: [Int]) -> [Int64] { v.map(Int64.init) + [Int64](repeating: 0, count: max(0, 12 - v.count)) }
            var desc = dnnl_convolution_desc_t()
            try check(dnnl_dilated_convolution_forward_desc_init(&desc, dnnl_forward_inference, dnnl_convolution_direct, &src, &w, nil, &dst,
                                                                 dims(spec.strides), dims(spec.dilations.map { $0 - 1 }),
                                                                 dims(spec.padsBegin), dims(spec.padsEnd)), "int8 convolution_forward_desc_init \(spec)")
            var attr: dnnl_primitive_attr_t?
            if let epilogue = spec.epilogue {
                attr = try DNNL.epilogueAttributes(epilogue, rank: spec.output.count, channels: spec.output[1])
            } else {
                try check(dnnl_primitive_attr_create(&attr), "primitive_attr_create")
                try check(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user), "set_scratchpad_mode")
                var runtimeZero = DNNL_RUNTIME_S32_VAL_REP
                try check(dnnl_primitive_attr_set_zero_points(attr, CDNNL_ARG_SRC, 1, 0, &runtimeZero), "set_zero_points")
            }
            defer { dnnl_primitive_attr_destroy(attr) }
            var pd: dnnl_primitive_desc_t?
            try withUnsafeBytes(of: &desc) { d in
                try check(dnnl_primitive_desc_create(&pd, d.baseAddress, attr, engine, nil), "int8 convolution primitive_desc_create \(spec)")
            }
            guard let pd else { throw Failure(call: "primitive_desc_create", status: 0) }
            var name: UnsafePointer<CChar>?
            _ = dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &name)
            implementation = name.map { String(cString: $0) } ?? "?"
            // The reference kernels are far slower than the portable path: refuse them.
            guard !implementation.hasPrefix("ref") else {
                dnnl_primitive_desc_destroy(pd)
                throw Failure(call: "int8 convolution picked \(implementation)", status: 0)
            }
            conv = try Primitive(pd: pd)
            srcMD = conv.md(dnnl_query_src_md)
            weightsMD = conv.md(dnnl_query_weights_md)
            dstMD = conv.md(dnnl_query_dst_md)
            scratchMD = conv.md(dnnl_query_scratchpad_md)
            zeroMD = try DNNL.typedDesc([1], dnnl_s32, dnnl_a)
            srcIn = DNNL.same(srcMD, userSrc) ? nil : try Reorder(from: userSrc, to: srcMD)
            dstOut = DNNL.same(dstMD, userDst) ? nil : try Reorder(from: dstMD, to: userDst)
            weightsIn = DNNL.same(weightsMD, userWeightsMD) ? nil : try Reorder(from: userWeightsMD, to: weightsMD)
            if spec.epilogue != nil {
                scaleMD = try DNNL.epilogueScaleDesc(rank: spec.output.count)
                biasMD = try DNNL.epilogueBiasDesc(rank: spec.output.count, channels: spec.output[1])
            } else {
                scaleMD = dnnl_memory_desc_t()
                biasMD = dnnl_memory_desc_t()
            }
        }

        /// The int8 weights ([M, C/group, k...]) in this primitive's layout (with oneDNN's compensation).
        func packWeights(_ w: UnsafePointer<Int8>) throws -> Buffer {
            try DNNL.packWeights(w, into: weightsMD, via: weightsIn, threads: spec.threads)
        }

        /// `dst = conv(src − zeroPoint, weights)`; `src` and `dst` (int32, or f32 through the
        /// epilogue with `scale` and M `bias` values) are plain NCHW.
        func run(src: UnsafeRawPointer, zeroPoint: Int32, weights: Buffer, dst: UnsafeMutableRawPointer,
                 scale: Float = 1, bias: UnsafePointer<Float>? = nil) throws {
            omp_set_num_threads(Int32(spec.threads))
            var srcPtr = UnsafeMutableRawPointer(mutating: src)
            var blockedSrc: Buffer?
            if let srcIn {
                let b = Buffer(bytes: DNNL.size(srcMD))
                try srcIn.run(src, b.pointer)
                blockedSrc = b
                srcPtr = b.pointer
            }
            var dstPtr = UnsafeMutableRawPointer(dst)
            var blockedDst: Buffer?
            if dstOut != nil {
                let b = Buffer(bytes: DNNL.size(dstMD))
                blockedDst = b
                dstPtr = b.pointer
            }
            let scratch = Buffer(bytes: DNNL.size(scratchMD))
            var zero = zeroPoint, s = scale
            try withUnsafeMutablePointer(to: &zero) { z in
                try withUnsafeMutablePointer(to: &s) { sp in
                    var args: [(Int32, dnnl_memory_desc_t, UnsafeMutableRawPointer)] = [
                        (CDNNL_ARG_SRC, srcMD, srcPtr), (CDNNL_ARG_WEIGHTS, weightsMD, weights.pointer),
                        (CDNNL_ARG_DST, dstMD, dstPtr), (CDNNL_ARG_SCRATCHPAD, scratchMD, scratch.pointer),
                        (Int32(DNNL_ARG_ATTR_ZERO_POINTS) | CDNNL_ARG_SRC, zeroMD, UnsafeMutableRawPointer(z)),
                    ]
                    if spec.epilogue != nil {
                        guard let bias else { throw Failure(call: "int8 convolution epilogue without a bias", status: 0) }
                        args.append((DNNL.epilogueScaleArg, scaleMD, UnsafeMutableRawPointer(sp)))
                        args.append((DNNL.epilogueBiasArg, biasMD, UnsafeMutableRawPointer(mutating: bias)))
                    }
                    try conv.execute(args)
                }
            }
            if let dstOut, let blockedDst { try dstOut.run(blockedDst.pointer, dst) }
            withExtendedLifetime(blockedSrc) {}
        }
    }

    /// A memory descriptor of any data type and tag.
    static func typedDesc(_ dims: [Int], _ type: dnnl_data_type_t, _ tag: dnnl_format_tag_t) throws -> dnnl_memory_desc_t {
        var md = dnnl_memory_desc_t()
        let d = dims.map(Int64.init) + [Int64](repeating: 0, count: max(0, 12 - dims.count))
        try check(dnnl_memory_desc_init_by_tag(&md, Int32(dims.count), d, type, tag), "memory_desc_init_by_tag \(dims) \(type)")
        return md
    }
}
#endif

#if canImport(CDNNL)
/// The int8 backends' primitives by spec, and the specs oneDNN refused (not tried again), each
/// bounded: symbolic batch sizes must not grow them without end. Not thread-safe: the owner locks.
struct DNNLPrimitiveTable<Spec: Hashable, Entry> {
    private(set) var entries: [Spec: Entry] = [:]
    private var refused: Set<Spec> = []
    /// Specs kept before the table starts over.
    let limit: Int

    init(limit: Int) { self.limit = limit }

    /// The entry for `spec`, made by `make` the first time; nil when `make` threw now or before.
    mutating func entry(_ spec: Spec, make: () throws -> Entry) -> Entry? {
        if refused.contains(spec) { return nil }
        if let e = entries[spec] { return e }
        do {
            let e = try make()
            if entries.count >= limit { entries.removeAll() }
            entries[spec] = e
            return e
        } catch {
            if refused.count >= limit { refused.removeAll() }
            refused.insert(spec)
            return nil
        }
    }
}
#endif
