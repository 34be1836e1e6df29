#if canImport(CDNNL)
import CDNNL
import Foundation

// oneDNN's fp32 matmul with its weights reordered once into the layout the primitive reads (what
// ONNX Runtime's MLAS does with a constant B): a GEMM call packs B again on every call, which for
// a layer of an MLP at batch 32 costs about as much as the product.

extension DNNL {
    /// What fixes an fp32 matmul primitive.
    struct MatMulSpec: Hashable, Sendable {
        var m: Int
        var k: Int
        var n: Int
        /// The stored weight is [N, K] (Gemm's transB) rather than [K, N].
        var transposedB: Bool
        /// A bias of N values is added to every row (oneDNN's bias argument).
        var hasBias: Bool
        var threads: Int
        /// Exact (erf) GELU applied to the result as an eltwise post-op.
        var gelu: Bool = false
        /// Relu applied to the result as an eltwise post-op (a Gemm → Relu fused by GemmActivationFusion).
        var relu: Bool = false
    }

    /// An fp32 layout of `dims` with explicit element strides (a slice of a wider tensor).
    static func stridedDesc(_ dims: [Int], strides: [Int]) throws -> dnnl_memory_desc_t {
        var md = dnnl_memory_desc_t()
        try check(dnnl_memory_desc_init_by_strides(&md, Int32(dims.count), padded(dims), dnnl_f32, padded(strides)),
                  "memory_desc_init_by_strides \(dims) \(strides)")
        return md
    }

    /// `C[M, N] = A[M, K] · B[K, N] (+ bias)` on oneDNN's matmul, B packed once.
    final class MatMul: @unchecked Sendable {
        let spec: MatMulSpec
        let matmul: Primitive
        let srcMD: dnnl_memory_desc_t, weightsMD: dnnl_memory_desc_t, biasMD: dnnl_memory_desc_t, dstMD: dnnl_memory_desc_t
        let scratchMD: dnnl_memory_desc_t
        let userWeightsMD: dnnl_memory_desc_t
        let weightsIn: Reorder?
        private let scratchBytes: Int
        private let scratchPool = BufferPool(maxBytes: 64 << 20)

        /// `weights`: the packed layout to read (another primitive's, so row pieces of a product
        /// share one packed copy); nil lets oneDNN choose. `weightsRowStride`: the stored [K, N]
        /// weight's row stride when it is a column slice of a wider one (a column piece packs
        /// only its own columns); nil for a whole weight.
        init(_ spec: MatMulSpec, weights: dnnl_memory_desc_t? = nil, weightsRowStride: Int? = nil) throws {
            guard let engine = DNNL.engine else { throw Failure(call: "engine_create", status: 0) }
            self.spec = spec
            omp_set_num_threads(Int32(spec.threads))
            var src = try DNNL.plainDesc([spec.m, spec.k])
            var w = try weights ?? DNNL.anyDesc([spec.k, spec.n])
            var b = spec.hasBias ? try DNNL.plainDesc([1, spec.n]) : dnnl_memory_desc_t()
            var dst = try DNNL.plainDesc([spec.m, spec.n])
            if let ld = weightsRowStride, !spec.transposedB {
                userWeightsMD = try DNNL.stridedDesc([spec.k, spec.n], strides: [ld, 1])
            } else {
                userWeightsMD = try DNNL.typedDesc([spec.k, spec.n], dnnl_f32, spec.transposedB ? dnnl_ba : dnnl_ab)
            }
            var desc = dnnl_matmul_desc_t()
            let status = spec.hasBias ? dnnl_matmul_desc_init(&desc, &src, &w, &b, &dst) : dnnl_matmul_desc_init(&desc, &src, &w, nil, &dst)
            try check(status, "matmul_desc_init \(spec)")
            var attr: dnnl_primitive_attr_t?
            try check(dnnl_primitive_attr_create(&attr), "primitive_attr_create")
            defer { dnnl_primitive_attr_destroy(attr) }
            try check(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user), "set_scratchpad_mode")
            if spec.gelu || spec.relu {
                // The FFN's activation while the output tile is in registers: a separate Gelu pass
                // over a 32x128x1024 output took a fifth of a BERT-mini run.
                var po: dnnl_post_ops_t?
                try check(dnnl_post_ops_create(&po), "post_ops_create")
                defer { dnnl_post_ops_destroy(po) }
                let alg = spec.gelu ? dnnl_eltwise_gelu_erf : dnnl_eltwise_relu
                try check(dnnl_post_ops_append_eltwise(po, 1, alg, 0, 0), "post_ops_append_eltwise \(spec.gelu ? "gelu_erf" : "relu")")
                try check(dnnl_primitive_attr_set_post_ops(attr, po), "set_post_ops")
            }
            var pd: dnnl_primitive_desc_t?
            try withUnsafeBytes(of: &desc) { d in
                try check(dnnl_primitive_desc_create(&pd, d.baseAddress, attr, engine, nil), "matmul primitive_desc_create \(spec)")
            }
            guard let pd else { throw Failure(call: "primitive_desc_create", status: 0) }
            matmul = try Primitive(pd: pd)
            srcMD = matmul.md(dnnl_query_src_md)
            weightsMD = matmul.md(dnnl_query_weights_md)
            dstMD = matmul.md(dnnl_query_dst_md)
            biasMD = b
            scratchMD = matmul.md(dnnl_query_scratchpad_md)
            scratchBytes = DNNL.size(scratchMD)
            weightsIn = DNNL.same(weightsMD, userWeightsMD) ? nil : try Reorder(from: userWeightsMD, to: weightsMD)
        }

        /// The weights (as stored: [K, N], or [N, K] when transposed) in this primitive's layout.
        func packWeights(_ w: UnsafePointer<Float>) throws -> Buffer {
            try DNNL.packWeights(w, into: weightsMD, via: weightsIn, threads: spec.threads)
        }

        /// `dst = src · weights (+ bias)`, `src` [M, K] and `dst` [M, N] row-major.
        func run(src: UnsafePointer<Float>, weights: Buffer, bias: UnsafePointer<Float>?, dst: UnsafeMutablePointer<Float>) throws {
            omp_set_num_threads(Int32(spec.threads))
            let scratch = scratchPool.take(scratchBytes)
            defer { scratchPool.give(scratch) }
            var args: [(Int32, UnsafeMutableRawPointer)] = [
                (CDNNL_ARG_SRC, UnsafeMutableRawPointer(mutating: src)), (CDNNL_ARG_WEIGHTS, weights.pointer),
                (CDNNL_ARG_DST, UnsafeMutableRawPointer(dst)), (CDNNL_ARG_SCRATCHPAD, scratch.pointer),
            ]
            if let bias { args.append((CDNNL_ARG_BIAS, UnsafeMutableRawPointer(mutating: bias))) }
            try matmul.execute(args)
        }
    }
}
#endif
