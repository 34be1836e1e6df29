#if canImport(CDNNL)
import CDNNL
import Foundation

// Every call into oneDNN's C API lives in this file: oneDNN 3.x replaced the 2.x operation
// descriptors (`*_desc_init`) and output scales, so moving to it is one change here.
// Debian's oneDNN runs its primitives on OpenMP: a primitive's thread count is fixed by the
// OpenMP setting of the thread that creates it, and the executing thread's setting decides how
// many threads run it, so both set it first.

/// Berth's thin layer over oneDNN 2.x (CPU engine, fp32 convolutions).
enum DNNL {
    /// A oneDNN call that did not succeed; callers fall back to the portable kernels.
    struct Failure: Error, CustomStringConvertible {
        let call: String
        let status: UInt32
        var description: String { "oneDNN \(call) failed with status \(status)" }
    }

    @inline(__always)
    static func check(_ status: dnnl_status_t, _ call: @autoclosure () -> String) throws {
        guard status == dnnl_success else { throw Failure(call: call(), status: status.rawValue) }
    }

    /// The CPU engine, made once per process; nil when oneDNN cannot make one.
    static let engine: dnnl_engine_t? = {
        var e: dnnl_engine_t?
        return dnnl_engine_create(&e, dnnl_cpu, 0) == dnnl_success ? e : nil
    }()

    /// True when the engine exists (the library loaded and found a CPU it supports).
    static var isAvailable: Bool { engine != nil }

    /// oneDNN's version, for `berth inspect`-style reports.
    static var version: String {
        guard let v = dnnl_version()?.pointee else { return "unknown" }
        return "\(v.major).\(v.minor).\(v.patch)"
    }

    /// Row-major `C = alpha * op(A) * op(B) + beta * C` on oneDNN's JIT GEMM with `threads` OpenMP
    /// threads; false when oneDNN refuses the call (the caller then uses OpenBLAS).
    static func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
                      b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, threads: Int) -> Bool {
        omp_set_num_threads(Int32(threads))
        let t = CChar(UInt8(ascii: "T")), nt = CChar(UInt8(ascii: "N"))
        return dnnl_sgemm(transA ? t : nt, transB ? t : nt, Int64(m), Int64(n), Int64(k), alpha, a, Int64(lda),
                          b, Int64(ldb), beta, c, Int64(ldc)) == dnnl_success
    }

    /// An element-wise post-op fused into a convolution.
    enum Eltwise: Hashable, Sendable {
        /// max(x, 0) + slope * min(x, 0): Relu (slope 0) and LeakyRelu.
        case relu(slope: Float)
        /// min(max(x, lo), hi).
        case clip(lo: Float, hi: Float)
        case tanh
        case sigmoid
        /// a * x + b.
        case linear(a: Float, b: Float)

        /// Appends `ops` to the post-op chain `po`, in order.
        static func append(_ ops: [Eltwise], to po: dnnl_post_ops_t?) throws {
            for e in ops {
                let p = e.parts
                try check(dnnl_post_ops_append_eltwise(po, 1, p.alg, p.alpha, p.beta), "post_ops_append_eltwise")
            }
        }

        var parts: (alg: dnnl_alg_kind_t, alpha: Float, beta: Float) {
            switch self {
            case let .relu(s): return (dnnl_eltwise_relu, s, 0)
            case let .clip(lo, hi): return (dnnl_eltwise_clip_v2, lo, hi)
            case .tanh: return (dnnl_eltwise_tanh, 0, 0)
            case .sigmoid: return (dnnl_eltwise_logistic, 0, 0)
            case let .linear(a, b): return (dnnl_eltwise_linear, a, b)
            }
        }
    }

    /// What fixes a convolution primitive: shapes, window, fused post-ops, layout and threads.
    struct ConvSpec: Hashable, Sendable {
        var input: [Int]          // [N, C, spatial...]
        var output: [Int]         // [N, M, out...]
        var weights: [Int]        // [M, C/group, kernel...]
        var group: Int
        var strides: [Int]
        var dilations: [Int]      // ONNX dilations (1 = dense)
        var padsBegin: [Int]
        var padsEnd: [Int]
        var hasBias: Bool
        /// The output buffer holds a residual to add before `eltwise` (oneDNN's sum post-op).
        var sum: Bool
        var eltwise: [Eltwise]
        /// Let oneDNN pick blocked activation layouts (reordered in and out per call); false keeps
        /// the plain NCHW layout, which wins for 1x1 and few-channel convolutions.
        var blocked: Bool
        var threads: Int
        /// With `blocked`: the activation layout and algorithm (``ConvLayout``); `.any` lets oneDNN pick.
        var layout: ConvLayout = .any
    }

    /// A blocked convolution's activation layout and algorithm, when not oneDNN's own pick.
    enum ConvLayout: Hashable, Sendable {
        /// oneDNN picks (brgconv's NHWC on AVX-512).
        case any
        /// nChw16c source and destination, direct algorithm (what follows a Winograd convolution,
        /// so the region keeps one layout instead of reordering around each Winograd one).
        case nChw16c
        /// nChw16c and oneDNN's Winograd algorithm (3x3, stride 1: F(2x2,3x3) or F(4x4,3x3)).
        case winograd
        /// A plain NCHW source of few channels into an nChw16c destination (oneDNN's first-layer
        /// kernel), so what follows starts blocked without a reorder.
        case plainToNChw16c
    }

    /// Memory oneDNN reads or writes, 64-byte aligned and owned by this object.
    final class Buffer: @unchecked Sendable {
        /// The bytes in use: what the last taker of a pooled buffer asked for (at most `capacity`).
        var bytes: Int
        /// The bytes allocated.
        let capacity: Int
        let pointer: UnsafeMutableRawPointer
        init(bytes: Int) {
            self.bytes = bytes
            capacity = max(bytes, 64)
            pointer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 64)
        }
        deinit { pointer.deallocate() }
    }

    static func plainDesc(_ dims: [Int]) throws -> dnnl_memory_desc_t {
        let tags = [dnnl_a, dnnl_ab, dnnl_abc, dnnl_abcd, dnnl_abcde, dnnl_abcdef]
        guard (1...tags.count).contains(dims.count) else { throw Failure(call: "plain layout of rank \(dims.count)", status: 0) }
        return try desc(dims, tags[dims.count - 1])
    }

    static func anyDesc(_ dims: [Int]) throws -> dnnl_memory_desc_t { try desc(dims, dnnl_format_tag_any) }

    private static func desc(_ dims: [Int], _ tag: dnnl_format_tag_t) throws -> dnnl_memory_desc_t {
        var md = dnnl_memory_desc_t()
        let d = padded(dims)
        try check(dnnl_memory_desc_init_by_tag(&md, Int32(dims.count), d, dnnl_f32, tag), "memory_desc_init_by_tag \(dims)")
        return md
    }

    /// dnnl_dims_t is a fixed array of DNNL_MAX_NDIMS (12) entries.
    static func padded(_ v: [Int]) -> [Int64] { v.map(Int64.init) + [Int64](repeating: 0, count: max(0, 12 - v.count)) }

    /// Runs `body(i)` for every piece `i` of a split over `pool`, each on one OpenMP thread (the
    /// pool's threads keep their own setting); throws once, naming `call`, when any piece failed.
    static func runPieces(_ count: Int, on pool: ThreadPool, call: @autoclosure () -> String, _ body: (Int) throws -> Void) throws {
        let failure = FailureFlag()
        pool.forEachIndex(count) { i in
            omp_set_num_threads(1)
            do { try body(i) } catch { failure.set() }
        }
        if failure.isSet { throw Failure(call: call(), status: 0) }
    }

    static func size(_ md: dnnl_memory_desc_t) -> Int {
        var m = md
        return dnnl_memory_desc_get_size(&m)
    }

    /// Weights in a primitive's layout `md`: reordered by `reorder` when the layouts differ, else
    /// copied. Packed once per node (fp32 and int8 convolutions, int8 matmul).
    static func packWeights(_ w: UnsafeRawPointer, into md: dnnl_memory_desc_t, via reorder: Reorder?, threads: Int) throws -> Buffer {
        omp_set_num_threads(Int32(threads))
        let out = Buffer(bytes: size(md))
        if let reorder {
            try reorder.run(w, out.pointer)
        } else {
            out.pointer.copyMemory(from: w, byteCount: size(md))
        }
        return out
    }

    static func same(_ a: dnnl_memory_desc_t, _ b: dnnl_memory_desc_t) -> Bool {
        var x = a, y = b
        return dnnl_memory_desc_equal(&x, &y) != 0
    }

    /// A primitive with its descriptor; destroyed with the object.
    final class Primitive: @unchecked Sendable {
        let pd: dnnl_primitive_desc_t
        let primitive: dnnl_primitive_t
        /// Streams and memory objects kept for the next calls.
        let bindings = BindingPool()
        init(pd: dnnl_primitive_desc_t) throws {
            var p: dnnl_primitive_t?
            let status = dnnl_primitive_create(&p, pd)
            guard status == dnnl_success, let p else {
                dnnl_primitive_desc_destroy(pd)
                throw Failure(call: "primitive_create", status: status.rawValue)
            }
            self.pd = pd
            primitive = p
        }
        deinit {
            dnnl_primitive_destroy(primitive)
            dnnl_primitive_desc_destroy(pd)
        }

        /// oneDNN's name for the implementation it picked ("brgconv:avx512_core", "ref:any", ...).
        var implementation: String {
            var name: UnsafePointer<CChar>?
            _ = dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &name)
            return name.map { String(cString: $0) } ?? "ref"
        }

        func md(_ what: dnnl_query_t) -> dnnl_memory_desc_t {
            dnnl_primitive_desc_query_md(pd, what, 0)?.pointee ?? dnnl_memory_desc_t()
        }

        /// Runs with `args` (oneDNN argument id → buffer) and waits; streams and memory objects
        /// are reused from call to call (`DNNL+Bindings.swift`).
        func execute(_ args: [(Int32, dnnl_memory_desc_t, UnsafeMutableRawPointer)]) throws {
            try bindings.execute(primitive, args)
        }

        /// Runs with `args` (oneDNN argument id → buffer), each buffer laid out as this primitive
        /// has that argument (no descriptors passed: the hot path), and waits.
        func execute(_ args: [(Int32, UnsafeMutableRawPointer)]) throws {
            try bindings.execute(primitive, pd: pd, args)
        }
    }

    /// A layout change between two descriptors of the same tensor.
    final class Reorder: @unchecked Sendable {
        let primitive: Primitive
        let from: dnnl_memory_desc_t, to: dnnl_memory_desc_t
        init(from: dnnl_memory_desc_t, to: dnnl_memory_desc_t) throws {
            guard let engine = DNNL.engine else { throw Failure(call: "engine_create", status: 0) }
            var pd: dnnl_primitive_desc_t?
            var f = from, t = to
            try check(dnnl_reorder_primitive_desc_create(&pd, &f, engine, &t, engine, nil), "reorder_primitive_desc_create")
            guard let pd else { throw Failure(call: "reorder_primitive_desc_create", status: 0) }
            primitive = try Primitive(pd: pd)
            self.from = from
            self.to = to
        }

        func run(_ src: UnsafeRawPointer, _ dst: UnsafeMutableRawPointer) throws {
            try primitive.execute([(CDNNL_ARG_FROM, UnsafeMutableRawPointer(mutating: src)), (CDNNL_ARG_TO, dst)])
        }
    }

    /// A forward-inference convolution built once for one ``ConvSpec`` and reused by every call.
    final class Convolution: @unchecked Sendable {
        let spec: ConvSpec
        let conv: Primitive
        let srcMD: dnnl_memory_desc_t, weightsMD: dnnl_memory_desc_t, dstMD: dnnl_memory_desc_t, biasMD: dnnl_memory_desc_t
        let scratchMD: dnnl_memory_desc_t
        let userWeightsMD: dnnl_memory_desc_t
        let srcIn: Reorder?, dstOut: Reorder?, dstIn: Reorder?, weightsIn: Reorder?
        /// The blocked copies and scratchpad of each call, kept for the next (fresh multi-megabyte
        /// allocations cost page faults every call).
        private let buffers = BufferPool(maxBytes: 64 << 20)

        /// `src`, `weights`, `dst`: layouts the primitive must read and write (a piece of a split
        /// convolution lays its part out as the whole is); nil lets oneDNN choose (or plain NCHW).
        init(_ spec: ConvSpec, src srcLayout: dnnl_memory_desc_t? = nil, weights weightsLayout: dnnl_memory_desc_t? = nil,
             dst dstLayout: dnnl_memory_desc_t? = nil) throws {
            guard let engine = DNNL.engine else { throw Failure(call: "engine_create", status: 0) }
            self.spec = spec
            omp_set_num_threads(Int32(spec.threads))
            let userSrc = try DNNL.plainDesc(spec.input), userDst = try DNNL.plainDesc(spec.output)
            // Grouped weights are [G, M/G, C/G, k...] to oneDNN: the same bytes as ONNX's [M, C/G, k...].
            let wDims = spec.group == 1 ? spec.weights : [spec.group, spec.weights[0] / spec.group] + spec.weights.dropFirst()
            userWeightsMD = try DNNL.plainDesc(wDims)
            let fixed: dnnl_format_tag_t? = spec.blocked && spec.layout != .any && spec.input.count == 4 ? dnnl_nChw16c : nil
            var src = try srcLayout ?? (spec.layout == .plainToNChw16c ? userSrc : nil) ?? (fixed.map { try DNNL.typedDesc(spec.input, dnnl_f32, $0) }
                ?? (spec.blocked ? DNNL.anyDesc(spec.input) : userSrc))
            var dst = try dstLayout ?? (fixed.map { try DNNL.typedDesc(spec.output, dnnl_f32, $0) }
                ?? (spec.blocked ? DNNL.anyDesc(spec.output) : userDst))
            let algorithm = spec.layout == .winograd ? dnnl_convolution_winograd : dnnl_convolution_direct
            var w = try weightsLayout ?? DNNL.anyDesc(wDims)
            var b = spec.hasBias ? try DNNL.plainDesc([spec.weights[0]]) : dnnl_memory_desc_t()

            var desc = dnnl_convolution_desc_t()
            let strides = DNNL.padded(spec.strides), dil = DNNL.padded(spec.dilations.map { $0 - 1 })
            let pl = DNNL.padded(spec.padsBegin), pr = DNNL.padded(spec.padsEnd)
            let status = spec.hasBias
                ? dnnl_dilated_convolution_forward_desc_init(&desc, dnnl_forward_inference, algorithm,
                                                             &src, &w, &b, &dst, strides, dil, pl, pr)
                : dnnl_dilated_convolution_forward_desc_init(&desc, dnnl_forward_inference, algorithm,
                                                             &src, &w, nil, &dst, strides, dil, pl, pr)
            try check(status, "convolution_forward_desc_init \(spec)")

            var attr: dnnl_primitive_attr_t?
            try check(dnnl_primitive_attr_create(&attr), "primitive_attr_create")
            defer { dnnl_primitive_attr_destroy(attr) }
            // User scratchpad: each call brings its own, so one primitive can run from two threads.
            try check(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user), "set_scratchpad_mode")
            if spec.sum || !spec.eltwise.isEmpty {
                var po: dnnl_post_ops_t?
                try check(dnnl_post_ops_create(&po), "post_ops_create")
                defer { dnnl_post_ops_destroy(po) }
                if spec.sum { try check(dnnl_post_ops_append_sum(po, 1), "post_ops_append_sum") }
                try Eltwise.append(spec.eltwise, to: po)
                try check(dnnl_primitive_attr_set_post_ops(attr, po), "set_post_ops")
            }
            var pd: dnnl_primitive_desc_t?
            try withUnsafeBytes(of: &desc) { d in
                try check(dnnl_primitive_desc_create(&pd, d.baseAddress, attr, engine, nil), "convolution primitive_desc_create \(spec)")
            }
            guard let pd else { throw Failure(call: "primitive_desc_create", status: 0) }
            conv = try Primitive(pd: pd)
            srcMD = conv.md(dnnl_query_src_md)
            weightsMD = conv.md(dnnl_query_weights_md)
            dstMD = conv.md(dnnl_query_dst_md)
            biasMD = b
            scratchMD = conv.md(dnnl_query_scratchpad_md)
            srcIn = DNNL.same(srcMD, userSrc) ? nil : try Reorder(from: userSrc, to: srcMD)
            dstOut = DNNL.same(dstMD, userDst) ? nil : try Reorder(from: dstMD, to: userDst)
            dstIn = spec.sum && dstOut != nil ? try Reorder(from: userDst, to: dstMD) : nil
            weightsIn = DNNL.same(weightsMD, userWeightsMD) ? nil : try Reorder(from: userWeightsMD, to: weightsMD)
        }

        /// The weights ([M, C/group, kernel...] floats) in the layout this primitive reads.
        func packWeights(_ w: UnsafePointer<Float>) throws -> Buffer {
            try DNNL.packWeights(w, into: weightsMD, via: weightsIn, threads: spec.threads)
        }

        /// `dst = act(conv(src, weights) + bias (+ dst when spec.sum))`; `src` and `dst` are plain NCHW.
        func run(src: UnsafePointer<Float>, weights: Buffer, bias: UnsafePointer<Float>?, dst: UnsafeMutablePointer<Float>) throws {
            omp_set_num_threads(Int32(spec.threads))
            var srcPtr = UnsafeMutableRawPointer(mutating: src)
            var blockedSrc: Buffer?
            if let srcIn {
                let b = buffers.take(DNNL.size(srcMD))
                try srcIn.run(src, b.pointer)
                blockedSrc = b
                srcPtr = b.pointer
            }
            var dstPtr = UnsafeMutableRawPointer(dst)
            var blockedDst: Buffer?
            if dstOut != nil {
                let b = buffers.take(DNNL.size(dstMD))
                // Padded channels must read as zero for the sum post-op and the reorder back.
                if let dstIn { try dstIn.run(dst, b.pointer) } else { b.pointer.initializeMemory(as: UInt8.self, repeating: 0, count: b.bytes) }
                blockedDst = b
                dstPtr = b.pointer
            }
            let scratch = buffers.take(DNNL.size(scratchMD))
            defer { for b in [blockedSrc, blockedDst, scratch].compactMap({ $0 }) { buffers.give(b) } }
            var args: [(Int32, UnsafeMutableRawPointer)] = [
                (CDNNL_ARG_SRC, srcPtr), (CDNNL_ARG_WEIGHTS, weights.pointer), (CDNNL_ARG_DST, dstPtr), (CDNNL_ARG_SCRATCHPAD, scratch.pointer),
            ]
            if let bias { args.append((CDNNL_ARG_BIAS, UnsafeMutableRawPointer(mutating: bias))) }
            try conv.execute(args)
            if let dstOut, let blockedDst { try dstOut.run(blockedDst.pointer, dst) }
        }
    }
}
#endif
