#if canImport(CDNNL)
import CDNNL
import Foundation

// The oneDNN primitives the blocked-layout regions run beside convolutions (pooling, element-wise,
// binary add, concat) and the layout changes between them. Each takes its source in whatever
// layout the producer left it, so activations stay blocked from one primitive to the next.

extension DNNL {
    /// A tensor in a oneDNN layout (blocked layouts pad channels to the block size with zeros):
    /// its logical NCHW dims, its descriptor and its bytes. Only a blocked-layout region sees it.
    final class Blocked: @unchecked Sendable {
        let dims: [Int]
        let md: dnnl_memory_desc_t
        let buffer: Buffer
        init(dims: [Int], md: dnnl_memory_desc_t, buffer: Buffer) {
            self.dims = dims
            self.md = md
            self.buffer = buffer
        }
    }

    /// The bytes of a descriptor, to key caches by layout (oneDNN zero-fills descriptors it makes).
    static func key(_ md: dnnl_memory_desc_t) -> Data { withUnsafeBytes(of: md) { Data($0) } }

    /// True when the layout pads the tensor beyond its logical elements (channels not a multiple
    /// of the block): such a buffer must start zeroed where a primitive reads what it writes.
    static func isPadded(_ md: dnnl_memory_desc_t, dims: [Int]) -> Bool {
        size(md) != dims.reduce(MemoryLayout<Float>.stride, *)
    }

    /// Buffers kept for reuse, handed out best-fit: the smallest free buffer that holds the
    /// request and is at most twice its size. A region's intermediate buffers are the same sizes
    /// on every call (DenseNet's growing concatenations: a different size per layer, and up to
    /// 100 MB each at batch 32); taking them from here spares the fresh pages (mmap, page faults,
    /// zeroing) a new multi-megabyte allocation costs, which was half of DenseNet's time at batch
    /// 32 with exact-size reuse under a 512 MB bound. Bounded by `maxBytes` kept at once.
    final class BufferPool: @unchecked Sendable {
        private let lock = NSLock()
        /// Free buffers, by increasing capacity.
        private var free: [Buffer] = []
        private var kept = 0
        let maxBytes: Int
        init(maxBytes: Int = 2 << 30) { self.maxBytes = maxBytes }

        /// A buffer of `bytes` bytes (contents undefined).
        func take(_ bytes: Int) -> Buffer {
            lock.lock()
            let i = firstIndex(holding: bytes)
            if i < free.count, free[i].capacity <= 2 * max(bytes, 64) {
                let b = free.remove(at: i)
                kept -= b.capacity
                lock.unlock()
                b.bytes = bytes
                return b
            }
            lock.unlock()
            return Buffer(bytes: bytes)
        }

        /// Hands `b` back; its owner must not use it again.
        func give(_ b: Buffer) {
            lock.lock()
            defer { lock.unlock() }
            guard kept + b.capacity <= maxBytes else { return }
            free.insert(b, at: firstIndex(holding: b.capacity))
            kept += b.capacity
        }

        /// The position of the first free buffer of at least `bytes` capacity (binary search).
        private func firstIndex(holding bytes: Int) -> Int {
            var lo = 0, hi = free.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if free[mid].capacity < bytes { lo = mid + 1 } else { hi = mid }
            }
            return lo
        }
    }

    private static let reorderLock = NSLock()
    nonisolated(unsafe) private static var reorders: [LayoutPair: Reorder] = [:]

    /// Two layouts, compared by their bytes and hashed by their leading fields (rank and dims):
    /// a per-call lookup copies and hashes no 700-byte descriptors.
    struct LayoutPair: Hashable {
        var from: dnnl_memory_desc_t, to: dnnl_memory_desc_t
        static func == (a: Self, b: Self) -> Bool { bytesEqual(a.from, b.from) && bytesEqual(a.to, b.to) }
        func hash(into h: inout Hasher) {
            for md in [from, to] { withUnsafeBytes(of: md) { h.combine(bytes: UnsafeRawBufferPointer(rebasing: $0.prefix(104))) } }
        }
    }

    /// The reorder between two layouts, made once per pair (bounded; a session cycling through
    /// input sizes must not grow it without end).
    static func reorder(from: dnnl_memory_desc_t, to: dnnl_memory_desc_t) throws -> Reorder {
        let k = LayoutPair(from: from, to: to)
        reorderLock.lock()
        defer { reorderLock.unlock() }
        if let r = reorders[k] { return r }
        let r = try Reorder(from: from, to: to)
        if reorders.count >= 256 { reorders.removeAll() }
        reorders[k] = r
        return r
    }

    /// A pooling, element-wise, binary or concat primitive built for given source layouts.
    final class LayoutPrimitive: @unchecked Sendable {
        let primitive: Primitive
        let srcMDs: [dnnl_memory_desc_t]
        let dstMD: dnnl_memory_desc_t
        let scratchMD: dnnl_memory_desc_t
        let dstDims: [Int]
        private let concat: Bool
        /// Batch slices that run instead of the whole, over a thread pool (``SplitPooling``); set
        /// once, before the primitive is shared.
        var slices: SplitPooling?

        fileprivate init(pd: dnnl_primitive_desc_t, srcMDs: [dnnl_memory_desc_t], dstDims: [Int], concat: Bool) throws {
            primitive = try Primitive(pd: pd)
            self.srcMDs = srcMDs
            self.dstDims = dstDims
            self.concat = concat
            dstMD = primitive.md(dnnl_query_dst_md)
            scratchMD = primitive.md(dnnl_query_scratchpad_md)
        }

        /// Runs over sources laid out as `srcMDs`, into `into` (in place over a dead source of the
        /// same layout: element-wise and batch normalization) or else a new buffer laid out as
        /// `dstMD`; `extra` are further arguments (batch normalization's statistics and affine parameters).
        func run(_ srcs: [UnsafeMutableRawPointer], pool: BufferPool, into: Buffer? = nil,
                 extra: [(Int32, dnnl_memory_desc_t, UnsafeMutableRawPointer)] = []) throws -> Blocked {
            if let slices, into == nil, srcs.count == 1, extra.isEmpty {
                let dst = pool.take(size(dstMD))
                do { try slices.run(src: srcs[0], dst: dst.pointer, buffers: pool) } catch {
                    pool.give(dst)
                    throw error
                }
                return Blocked(dims: dstDims, md: dstMD, buffer: dst)
            }
            let dst = into ?? pool.take(size(dstMD))
            let scratch = pool.take(size(scratchMD))
            defer { pool.give(scratch) }
            var args: [(Int32, UnsafeMutableRawPointer)] = []
            args.reserveCapacity(srcs.count + 2)
            for (i, p) in srcs.enumerated() {
                args.append((concat ? Int32(DNNL_ARG_MULTIPLE_SRC) + Int32(i) : (i == 0 ? CDNNL_ARG_SRC : Int32(DNNL_ARG_SRC_1)), p))
            }
            args.append((CDNNL_ARG_DST, dst.pointer))
            args.append((CDNNL_ARG_SCRATCHPAD, scratch.pointer))
            if extra.isEmpty {
                try primitive.execute(args)
            } else {
                // Arguments with layouts of their own (batch normalization's statistics): described.
                let mds = srcMDs + [dstMD, scratchMD]
                try primitive.execute(zip(args, mds).map { ($0.0.0, $0.1, $0.0.1) } + extra)
            }
            return Blocked(dims: dstDims, md: dstMD, buffer: dst)
        }

        /// Runs a one-source primitive from `src` into `dst` (both laid out as this primitive's),
        /// its scratchpad from `pool`: a batch slice writing its part of a whole output.
        func run(src: UnsafeMutableRawPointer, dst: UnsafeMutableRawPointer, pool: BufferPool) throws {
            let scratch = pool.take(size(scratchMD))
            defer { pool.give(scratch) }
            try primitive.execute([(CDNNL_ARG_SRC, src), (CDNNL_ARG_DST, dst), (CDNNL_ARG_SCRATCHPAD, scratch.pointer)])
        }
    }

    /// A primitive attribute with a user scratchpad, so one primitive can run from two threads.
    private static func withAttr<T>(_ body: (dnnl_primitive_attr_t?) throws -> T) throws -> T {
        var attr: dnnl_primitive_attr_t?
        try check(dnnl_primitive_attr_create(&attr), "primitive_attr_create")
        defer { dnnl_primitive_attr_destroy(attr) }
        try check(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user), "set_scratchpad_mode")
        return try body(attr)
    }

    private static func make<D>(_ desc: inout D, _ what: String, srcMDs: [dnnl_memory_desc_t], dstDims: [Int]) throws -> LayoutPrimitive {
        guard let engine else { throw Failure(call: "engine_create", status: 0) }
        var pd: dnnl_primitive_desc_t?
        try withAttr { attr in
            try withUnsafeBytes(of: &desc) { d in
                try check(dnnl_primitive_desc_create(&pd, d.baseAddress, attr, engine, nil), "\(what) primitive_desc_create")
            }
        }
        guard let pd else { throw Failure(call: "\(what) primitive_desc_create", status: 0) }
        return try LayoutPrimitive(pd: pd, srcMDs: srcMDs, dstDims: dstDims, concat: false)
    }

    /// How a pooling window reduces.
    enum PoolKind: Hashable, Sendable { case max, averageIncludingPadding, averageExcludingPadding }

    /// 2-D pooling over `src` (NCHW dims `srcDims`) to `dstDims`; the output takes the source's layout.
    /// `dilations` are ONNX's (1 = dense); `padsEnd` may exceed the file's pads for ceil mode.
    /// `dst`: the output's layout (nil: oneDNN's choice).
    static func pooling(src: dnnl_memory_desc_t, srcDims: [Int], dstDims: [Int], kind: PoolKind, kernel: [Int], strides: [Int],
                        dilations: [Int], padsBegin: [Int], padsEnd: [Int], dst: dnnl_memory_desc_t? = nil) throws -> LayoutPrimitive {
        var s = src
        var d = try dst ?? anyDesc(dstDims)
        var desc = dnnl_pooling_v2_desc_t()
        let alg: dnnl_alg_kind_t
        switch kind {
        case .max: alg = dnnl_pooling_max
        case .averageIncludingPadding: alg = dnnl_pooling_avg_include_padding
        case .averageExcludingPadding: alg = dnnl_pooling_avg_exclude_padding
        }
        try check(dnnl_pooling_v2_forward_desc_init(&desc, dnnl_forward_inference, alg, &s, &d, padded(strides), padded(kernel),
                                                    padded(dilations.map { $0 - 1 }), padded(padsBegin), padded(padsEnd)),
                  "pooling_v2_forward_desc_init \(srcDims) → \(dstDims)")
        return try make(&desc, "pooling", srcMDs: [src], dstDims: dstDims)
    }

    /// One element-wise function over `src`, written in the same layout.
    static func eltwise(src: dnnl_memory_desc_t, dims: [Int], _ e: Eltwise) throws -> LayoutPrimitive {
        var s = src
        var desc = dnnl_eltwise_desc_t()
        let p = e.parts
        try check(dnnl_eltwise_forward_desc_init(&desc, dnnl_forward_inference, p.alg, &s, p.alpha, p.beta), "eltwise_forward_desc_init \(dims)")
        return try make(&desc, "eltwise", srcMDs: [src], dstDims: dims)
    }

    /// Inference batch normalization over `src` with given statistics, scale and shift (arguments
    /// `DNNL_ARG_MEAN`, `_VARIANCE`, `_SCALE`, `_SHIFT`, each C floats), written in the same layout.
    /// `relu` fuses a ReLU after it (oneDNN's `fuse_norm_relu`; no workspace at inference).
    static func batchNorm(src: dnnl_memory_desc_t, dims: [Int], epsilon: Float, relu: Bool = false) throws -> LayoutPrimitive {
        var s = src
        var desc = dnnl_batch_normalization_desc_t()
        let flags = dnnl_use_global_stats.rawValue | dnnl_use_scale.rawValue | dnnl_use_shift.rawValue
            | (relu ? dnnl_fuse_norm_relu.rawValue : 0)
        try check(dnnl_batch_normalization_forward_desc_init(&desc, dnnl_forward_inference, &s, epsilon, UInt32(flags)),
                  "batch_normalization_forward_desc_init \(dims)")
        return try make(&desc, "batch_normalization", srcMDs: [src], dstDims: dims)
    }

    /// `a + b` for two tensors of the same dims; `b` must already be in `a`'s layout.
    static func add(_ a: dnnl_memory_desc_t, _ b: dnnl_memory_desc_t, dims: [Int]) throws -> LayoutPrimitive {
        var x = a, y = b, z = a
        var desc = dnnl_binary_desc_t()
        try check(dnnl_binary_desc_init(&desc, dnnl_binary_add, &x, &y, &z), "binary_desc_init \(dims)")
        return try make(&desc, "binary", srcMDs: [a, b], dstDims: dims)
    }

    /// The concatenation of `srcs` (each in its own layout) along `axis`; oneDNN picks the output layout.
    static func concat(_ srcs: [dnnl_memory_desc_t], dstDims: [Int], axis: Int) throws -> LayoutPrimitive {
        guard let engine else { throw Failure(call: "engine_create", status: 0) }
        var d = try anyDesc(dstDims)
        var pd: dnnl_primitive_desc_t?
        try withAttr { attr in
            try srcs.withUnsafeBufferPointer { s in
                try check(dnnl_concat_primitive_desc_create(&pd, &d, Int32(srcs.count), Int32(axis), s.baseAddress, attr, engine),
                          "concat_primitive_desc_create → \(dstDims)")
            }
        }
        guard let pd else { throw Failure(call: "concat_primitive_desc_create", status: 0) }
        return try LayoutPrimitive(pd: pd, srcMDs: srcs, dstDims: dstDims, concat: true)
    }
}

extension DNNL.Convolution {
    /// `dst = act(conv(src, weights) + bias (+ dst when spec.sum))` with `src` already in `srcMD`
    /// and `dst` in `dstMD` (a blocked-layout region keeps them so between primitives).
    func runBlocked(src: UnsafeMutableRawPointer, weights: DNNL.Buffer, bias: UnsafePointer<Float>?, dst: UnsafeMutableRawPointer,
                    pool: DNNL.BufferPool) throws {
        let scratch = pool.take(DNNL.size(scratchMD))
        defer { pool.give(scratch) }
        var args: [(Int32, UnsafeMutableRawPointer)] = [
            (CDNNL_ARG_SRC, src), (CDNNL_ARG_WEIGHTS, weights.pointer), (CDNNL_ARG_DST, dst), (CDNNL_ARG_SCRATCHPAD, scratch.pointer),
        ]
        if let bias { args.append((CDNNL_ARG_BIAS, UnsafeMutableRawPointer(mutating: bias))) }
        try conv.execute(args)
    }
}
#endif
