#if canImport(CDNNL)
import BerthONNX
import BerthTensor
import CDNNL
import Foundation

extension KernelRegistry {
    /// Registers the kernel of ``BlockedLayoutPass``'s region nodes.
    mutating func registerBlockedRegionKernel() {
        register(BlockedLayoutPass.opType, domain: FusedOps.domain, opsets: 0...Int.max, values: { node, _, subgraphs in
            let region = try BlockedRegion(node: node, registry: subgraphs.registry, opsetFor: subgraphs.opsetFor, subgraphs: subgraphs)
            return { inputs, ctx in try region.run(inputs, ctx) }
        })
    }
}

/// The kernel of one blocked-layout region: runs its nodes in order on oneDNN, each value kept in
/// the layout its producer wrote (blocked, channels padded with zeros) and reordered only where a
/// consumer needs another layout. Plain NCHW tensors come in and go out; inside, a value is never
/// visible to another kernel. A node oneDNN cannot run for a given shape (broadcasting Add, a
/// window it refuses, a non-float input) runs on Berth's own kernel over plain copies, so a region
/// computes what its nodes would, for every input.
final class BlockedRegion: Sendable {
    /// A class: a struct copy per member per call retained each of its arrays and closures (3 %
    /// of a chain of small convolutions). Immutable (made from a ``Draft`` once the region is
    /// built): reading a `var` of a class took an exclusivity check and a retain per access.
    private final class Member: @unchecked Sendable {
        let node: Node
        let op: BlockedRegionOp
        let inputs: [Int?]
        let outputs: [Int?]
        let fallback: Kernel
        /// A Relu folded into this BatchNormalization (oneDNN's `fuse_norm_relu`): its kernel, for
        /// calls that run the normalization on Berth's kernel.
        let fusedRelu: Kernel?
        let cache: BlockedRegionCache
        /// Values whose last reader is this member.
        let release: [Int]
        /// The depthwise convolution that alone reads this 1x1 convolution's output, run with it
        /// as one primitive when the shapes allow (``PointwiseDepthwiseFusion``), else after it.
        let depthwise: FollowingDepthwise?

        init(_ d: Draft, depthwise: FollowingDepthwise?) {
            (node, op, inputs, outputs, fallback) = (d.node, d.op, d.inputs, d.outputs, d.fallback)
            (fusedRelu, cache, release, self.depthwise) = (d.fusedRelu, d.cache, d.release, depthwise)
        }
    }

    /// A member while the region is built (fusions rewrite these).
    private struct Draft {
        var node: Node
        var op: BlockedRegionOp
        var inputs: [Int?]
        var outputs: [Int?]
        var fallback: Kernel
        var fusedRelu: Kernel? = nil
        var cache = BlockedRegionCache()
        var release: [Int] = []
        /// The draft of the depthwise convolution to run with this one, and how.
        var depthwise: (index: Int, fusion: PointwiseDepthwiseFusion)? = nil
    }

    /// A depthwise member taken out of the list to run with the 1x1 before it.
    private final class FollowingDepthwise: Sendable {
        let member: Member
        let fusion: PointwiseDepthwiseFusion
        init(member: Member, fusion: PointwiseDepthwiseFusion) {
            self.member = member
            self.fusion = fusion
        }
    }

    private let members: [Member]
    /// Intermediate buffers, reused from call to call (the region's own arena).
    private let pool = DNNL.BufferPool()
    /// The reorder its outputs took last (to NCHW).
    private let toPlain = PlainReorder()
    private let valueCount: Int
    private let outputValues: [Int]
    /// Whole-region batch slices over the pool, when every node treats images independently.
    private let batchSlices: RegionBatchSlices?
    /// Batched poolings split over the pool (``SplitPooling``): only in float regions, whose
    /// convolutions split too, so the pool's workers are awake for them (the static-int8 MNIST CNN
    /// at batch 32 on 2 threads: 0.57 → 0.60 ms per region with its poolings split).
    private let splitsPooling: Bool
    /// The region node's name, for profiles of its members.
    private let name: String

    init(node: Node, registry: KernelRegistry, opsetFor: (String) -> Int?, subgraphs: SubgraphCompiler) throws {
        guard case let .graph(body)? = node.attributes["body"] else { throw KernelError("\(node.opType) needs a graph attribute 'body'") }
        var index: [String: Int] = [:]
        for i in body.inputs { index[i.name] = index.count }
        var members: [Draft] = []
        for n in body.nodes {
            guard let op = BlockedRegionOp(n) else { throw KernelError("node '\(n.name)' (\(n.opType)) cannot run in a blocked-layout region") }
            guard case let .tensors(kernel)? = try registry.makeKernel(n, opset: opsetFor(n.domain) ?? 0, subgraphs: subgraphs) else {
                throw KernelError("no tensor kernel for '\(n.name)' (\(n.opType))")
            }
            let inputs = try n.inputs.map { name -> Int? in
                if name.isEmpty { return nil }
                guard let v = index[name] else { throw KernelError("region node '\(n.name)' reads '\(name)' before it is produced") }
                return v
            }
            let outputs = n.outputs.map { name -> Int? in
                if name.isEmpty { return nil }
                let v = index.count
                index[name] = v
                return v
            }
            members.append(Draft(node: n, op: op, inputs: inputs, outputs: outputs, fallback: kernel))
        }
        let outputValues = try body.outputs.map { o in
            guard let v = index[o.name] else { throw KernelError("region output '\(o.name)' is never produced") }
            return v
        }
        self.outputValues = outputValues
        let keep = Set(outputValues)
        Self.fuseBatchNormRelu(&members, keep: keep)
        var lastUse: [Int: Int] = [:]
        for (k, m) in members.enumerated() { for case let v? in m.inputs + m.outputs { lastUse[v] = k } }
        for (v, k) in lastUse where !keep.contains(v) { members[k].release.append(v) }
        let removed = Self.fusePointwiseDepthwise(&members, keep: keep, constants: body.inputs.count)
        self.members = members.indices.filter { !removed.contains($0) }.map { k in
            Member(members[k], depthwise: members[k].depthwise.map { FollowingDepthwise(member: Member(members[$0.index], depthwise: nil), fusion: $0.fusion) })
        }
        valueCount = index.count
        batchSlices = RegionBatchSlices(body: body)
        name = node.name.isEmpty ? node.opType : node.name
        splitsPooling = SplitPooling.enabled && !members.contains {
            switch $0.op {
            case .quantizedConv, .fakeQuantize: return true
            default: return false
            }
        }
    }

    /// Folds each Relu that is the only reader of a BatchNormalization's output (DenseNet's
    /// pre-activation BN → ReLU after every Concat) into that normalization: one pass over the
    /// tensor instead of two.
    private static func fuseBatchNormRelu(_ members: inout [Draft], keep: Set<Int>) {
        guard ProcessInfo.processInfo.environment["BERTH_DNNL_BN_RELU"] != "0" else { return }
        var readers: [Int: [Int]] = [:]
        for (k, m) in members.enumerated() { for case let v? in m.inputs { readers[v, default: []].append(k) } }
        var removed = Set<Int>()
        for k in members.indices {
            guard case .batchNorm = members[k].op, members[k].outputs.count == 1, let v = members[k].outputs[0], !keep.contains(v),
                  let r = readers[v], r.count == 1, case .eltwise(.relu) = members[r[0]].op, members[r[0]].inputs.count == 1,
                  members[r[0]].outputs.count == 1 else { continue }
            members[k].fusedRelu = members[r[0]].fallback
            members[k].outputs = members[r[0]].outputs
            removed.insert(r[0])
        }
        members = members.indices.filter { !removed.contains($0) }.map { members[$0] }
    }

    /// Attaches each depthwise convolution whose input is a 1x1 convolution's output that nothing
    /// else reads (and no region output) to that 1x1, when its weights and bias are region inputs
    /// (known before the 1x1 runs). Call after the release lists are made: each member keeps its own.
    /// Returns the drafts taken out of the list (each now runs with the 1x1 before it).
    private static func fusePointwiseDepthwise(_ members: inout [Draft], keep: Set<Int>, constants: Int) -> Set<Int> {
        guard PointwiseDepthwiseFusion.enabled else { return [] }
        var readers: [Int: [Int]] = [:]
        for (k, m) in members.enumerated() { for case let v? in m.inputs { readers[v, default: []].append(k) } }
        var removed = Set<Int>()
        for k in members.indices where !removed.contains(k) {
            let m = members[k]
            guard m.fusedRelu == nil, m.inputs.count == 2 || m.inputs.count == 3, m.outputs.count == 1, let v = m.outputs[0], !keep.contains(v),
                  let r = readers[v], r.count == 1, r[0] > k, !removed.contains(r[0]) else { continue }
            let d = members[r[0]]
            guard d.inputs.count == 2 || d.inputs.count == 3, d.inputs[0] == v, d.inputs.dropFirst().allSatisfy({ $0.map { $0 < constants } ?? true }),
                  d.outputs.count == 1, d.outputs[0] != nil, let fusion = PointwiseDepthwiseFusion(m.op, d.op) else { continue }
            members[k].depthwise = (r[0], fusion)
            removed.insert(r[0])
        }
        return removed
    }

    /// One value during a run: its plain tensor, its oneDNN-side copy, or both.
    private struct Slot {
        var plain: Tensor?
        var blocked: DNNL.Blocked?
    }

    func run(_ inputs: [Value?], _ ctx: KernelContext) throws -> [Value] {
        if let sliced = try batchSlices?.run(inputs, ctx, region: { try self.run($0, $1) }) { return sliced }
        var slots = [Slot](repeating: Slot(), count: valueCount)
        for (k, v) in inputs.enumerated() where k < valueCount { slots[k].plain = v?.tensor }
        let threads = DNNLThreads.count(intraOp: ctx.pool.threads)
        omp_set_num_threads(Int32(threads))
        // A profiled top-level call times each member (batch slices run without a profile: their
        // members overlap on the pool's threads).
        let profile = ctx.profile.flatMap { $0.timesRegionMembers ? $0 : nil }
        for m in members {
            let started = profile.map { _ in OpProfile.now }
            defer {
                if let profile, let started {
                    let op = m.depthwise.map { "\(m.node.opType)+\($0.member.node.opType)" } ?? m.node.opType
                    profile.member(op: op, node: m.node.name.isEmpty ? "\(m.node.opType)→\(m.node.outputs.first ?? "")" : m.node.name,
                                   region: name, since: started)
                }
            }
            if let d = m.depthwise {
                let fused: Bool
                do { fused = try threads == 1 && PointwiseDepthwiseFusion.applies(poolThreads: ctx.pool.threads) && runPointwiseDepthwise(m, d, &slots, pool: ctx.pool) } catch let e as DNNL.Failure {
                    throw EngineError.kernel(node: m.node.name, op: m.node.opType, message: "\(e)")
                }
                if fused {
                    for v in m.release + d.member.release { recycle(&slots[v]) }
                } else {
                    try run(m, &slots, ctx, threads: threads)
                    try run(d.member, &slots, ctx, threads: threads)
                }
                continue
            }
            try run(m, &slots, ctx, threads: threads)
        }
        let started = profile.map { _ in OpProfile.now }
        let outputs = try outputValues.map { Value.tensor(try plain(&slots[$0])) }
        for v in slots.indices { recycle(&slots[v]) }
        if let profile, let started { profile.member(op: "Reorder", node: "(outputs to NCHW)", region: name, since: started) }
        return outputs
    }

    /// Runs one member (on oneDNN, or on Berth's kernel) and empties the values it read last.
    private func run(_ m: Member, _ slots: inout [Slot], _ ctx: KernelContext, threads: Int) throws {
        let done: Bool
        do { done = try runOnDNNL(m, &slots, threads: threads, pool: ctx.pool) } catch let e as DNNL.Failure {
            throw EngineError.kernel(node: m.node.name, op: m.node.opType, message: "\(e)")
        }
        if !done {
            var args: [Tensor?] = []
            for case let v in m.inputs { args.append(try v.map { try plain(&slots[$0]) }) }
            var results: [Tensor]
            do { results = try m.fallback(args, ctx) } catch { throw EngineError.wrap(error, node: m.node) }
            if let relu = m.fusedRelu, let y = results.first {
                do { results = try relu([y], ctx) } catch { throw EngineError.wrap(error, node: m.node) }
            }
            for (k, o) in m.outputs.enumerated() {
                guard let o else { continue }
                guard k < results.count else { throw EngineError.kernel(node: m.node.name, op: m.node.opType, message: "output \(k) is not produced") }
                slots[o] = Slot(plain: results[k], blocked: nil)
            }
        }
        for v in m.release { recycle(&slots[v]) }
    }

    // MARK: - Layouts

    /// The value as a plain NCHW tensor (reordered out of its blocked copy the first time).
    private func plain(_ s: inout Slot) throws -> Tensor {
        if let p = s.plain { return p }
        guard let b = s.blocked else { throw KernelError("a region value has no data") }
        let count = try Shape.elementCount(b.dims)
        let r = try toPlain.reorder(from: b.md, dims: b.dims)
        var failure: Error?
        let v = [Float](unsafeUninitializedCapacity: count) { buf, n in
            n = count
            do { try r.run(b.buffer.pointer, buf.baseAddress!) } catch { failure = error }
        }
        if let failure { throw failure }
        let t = Tensor(unchecked: b.dims, storage: .float32(v))
        s.plain = t
        return t
    }

    /// Empties a slot whose value is dead, handing its buffer back to the pool when nothing
    /// else holds it.
    private func recycle(_ s: inout Slot) {
        guard var b = s.blocked else { s = Slot(); return }
        s = Slot()
        if isKnownUniquelyReferenced(&b) { pool.give(b.buffer) }
    }

    /// The dims of a non-empty float32 rank-4 value, or nil (then the node runs on Berth's kernel).
    private func dims4(_ s: Slot) -> [Int]? {
        if let b = s.blocked { return b.dims }
        guard let p = s.plain, p.dtype == .float32, p.rank == 4, p.shape.allSatisfy({ $0 > 0 }) else { return nil }
        return p.shape
    }

    /// The value's oneDNN-side copy in whatever layout it has (a plain value is copied once).
    private func current(_ s: inout Slot) throws -> DNNL.Blocked {
        if let b = s.blocked { return b }
        guard let p = s.plain else { throw KernelError("a region value has no data") }
        let md = try DNNL.plainDesc(p.shape)
        let buf = pool.take(DNNL.size(md))
        p.floats.withUnsafeBytes { buf.pointer.copyMemory(from: $0.baseAddress!, byteCount: min($0.count, buf.bytes)) }
        let b = DNNL.Blocked(dims: p.shape, md: md, buffer: buf)
        s.blocked = b
        return b
    }

    /// The value laid out as `md`: its own copy when it already is (`fresh` false: shared), else a
    /// new reordered buffer (`fresh` true: the caller may write it).
    /// `split`: a pool whose threads may share a batch-1 reorder (``SplitReorder``).
    private func laidOut(_ s: inout Slot, _ md: dnnl_memory_desc_t, split: ThreadPool? = nil) throws -> (buffer: DNNL.Buffer, fresh: Bool) {
        if let b = s.blocked, DNNL.same(b.md, md) { return (b.buffer, false) }
        let out = pool.take(DNNL.size(md))
        if let b = s.blocked {
            try reorder(b.buffer.pointer, from: b.md, into: out.pointer, md, dims: b.dims, split: split)
        } else {
            guard let p = s.plain else { throw KernelError("a region value has no data") }
            if Self.holdsPlainBytes(md, p.shape) {
                // The plain bytes (NCHW, or NHWC with one channel or pixel): copied without a
                // reorder primitive (the MNIST CNN's 28x28 input: about 1 µs of a 40 µs run).
                p.floats.withUnsafeBytes { out.pointer.copyMemory(from: $0.baseAddress!, byteCount: min($0.count, out.bytes)) }
            } else {
                let plain = try DNNL.plainDesc(p.shape)
                try p.floats.withUnsafeBytes { try reorder($0.baseAddress!, from: plain, into: out.pointer, md, dims: p.shape, split: split) }
            }
            s.blocked = DNNL.Blocked(dims: p.shape, md: md, buffer: out)
            return (out, false)
        }
        return (out, true)
    }

    /// `src` (layout `from`) into `dst` (layout `to`): in row bands over `split` when it applies
    /// (``SplitReorder``), else whole on this thread.
    private func reorder(_ src: UnsafeRawPointer, from: dnnl_memory_desc_t, into dst: UnsafeMutableRawPointer, _ to: dnnl_memory_desc_t,
                         dims: [Int], split: ThreadPool?) throws {
        if let split, let bands = SplitReorder.cached(from: from, to: to, dims: dims, threads: split.threads) {
            try bands.run(src, dst, pool: split)
        } else {
            try DNNL.reorder(from: from, to: to).run(src, dst)
        }
    }

    /// True when `md` holds a plain tensor of `dims` as its own bytes: NCHW itself, or NHWC with
    /// one channel or one pixel.
    private static func holdsPlainBytes(_ md: dnnl_memory_desc_t, _ dims: [Int]) -> Bool {
        if let plain = try? DNNL.plainDesc(dims), DNNL.same(md, plain) { return true }
        guard dims.count == 4, dims[1] == 1 || dims[2] * dims[3] == 1, let nhwc = try? DNNL.typedDesc(dims, dnnl_f32, dnnl_nhwc) else { return false }
        return DNNL.same(md, nhwc)
    }

    /// True when this member is the last reader of input `i`, reads it once, and nothing else
    /// holds its oneDNN-side copy: element-wise and normalization primitives may then write their
    /// output over it (no new buffer, one tensor less in cache). Ask before taking references to it.
    private func mayOverwrite(_ m: Member, _ i: Int, _ slots: inout [Slot]) -> Bool {
        guard m.release.contains(i), m.inputs.filter({ $0 == i }).count == 1, var b = slots[i].blocked else { return false }
        slots[i].blocked = nil
        defer { slots[i].blocked = b }
        return isKnownUniquelyReferenced(&b)
    }

    /// Gives up slot `i`'s oneDNN-side buffer to be overwritten when it has layout `md`.
    private func takeOver(_ i: Int, _ slots: inout [Slot], md: dnnl_memory_desc_t) -> DNNL.Buffer? {
        guard let b = slots[i].blocked, DNNL.same(b.md, md) else { return nil }
        slots[i].blocked = nil
        return b.buffer
    }

    // MARK: - Nodes on oneDNN

    /// Runs `m` on oneDNN and stores its output; false when this call must use Berth's kernel.
    private func runOnDNNL(_ m: Member, _ slots: inout [Slot], threads: Int, pool threadPool: ThreadPool) throws -> Bool {
        guard let out = m.outputs.first ?? nil else { return false }
        switch m.op {
        case let .conv(attrs, act):
            return try runConv(m, attrs, act, &slots, out: out, threads: threads, pool: threadPool)
        case let .quantizedConv(q):
            guard let xi = m.inputs[0], let d = dims4(slots[xi]), let y = try q.run(blocked: slots[xi].blocked, plain: slots[xi].plain, dims: d,
                  inputs: m.inputs.map { $0.flatMap { slots[$0].plain } }, pool: pool, threads: threads) else { return false }
            slots[out] = Slot(plain: nil, blocked: y)
            return true
        case .fakeQuantize:
            guard let xi = m.inputs[0], dims4(slots[xi]) != nil, m.inputs.count >= 2, let y = try FakeQuantize.run(
                try current(&slots[xi]), scale: m.inputs[1].flatMap { slots[$0].plain }, zero: m.inputs.count > 2 ? m.inputs[2].flatMap { slots[$0].plain } : nil,
                pool: pool) else { return false }
            slots[out] = Slot(plain: nil, blocked: y)
            return true
        case let .pool(kind, window):
            guard let xi = m.inputs[0], let d = dims4(slots[xi]), let k = window.kernelShape else { return false }
            let dnnlKind: DNNL.PoolKind = kind == .max ? .max : (kind == .averageIncludingPadding ? .averageIncludingPadding : .averageExcludingPadding)
            // The window's geometry only when the primitive is made (a shape the window refuses
            // throws there, is remembered as refused, and runs on Berth's kernel): computing it on
            // every call took about a µs per pooling at batch 1 (the MNIST CNN: 2 of 70 µs).
            return try runLayout(m, &slots, out: out, [xi], key: .nothing) { mds in
                let g = try window.geometry(input: Array(d[2...]), kernel: k)
                // ceil_mode: oneDNN takes the extra end padding that yields ONNX's output size.
                var ends: [Int] = []
                for a in 0..<2 {
                    let extent: Int = (g.kernel[a] - 1) * g.dilations[a] + 1
                    let reach: Int = (g.output[a] - 1) * g.strides[a] + extent
                    ends.append(max(reach - g.input[a] - g.padsBegin[a], 0))
                }
                let whole = try DNNL.pooling(src: mds[0], srcDims: d, dstDims: [d[0], d[1]] + g.output, kind: dnnlKind, kernel: g.kernel, strides: g.strides,
                                             dilations: g.dilations, padsBegin: g.padsBegin, padsEnd: ends)
                // Several intra-op threads on 1-thread primitives: batch slices over the pool.
                if threads == 1, splitsPooling {
                    whole.slices = SplitPooling(whole: whole, srcDims: d, dstDims: whole.dstDims, pool: threadPool) { src, dst, sd, dd in
                        try DNNL.pooling(src: src, srcDims: sd, dstDims: dd, kind: dnnlKind, kernel: g.kernel, strides: g.strides,
                                         dilations: g.dilations, padsBegin: g.padsBegin, padsEnd: ends, dst: dst)
                    }
                }
                return whole
            }
        case .globalAveragePool:
            guard let xi = m.inputs[0], let d = dims4(slots[xi]) else { return false }
            return try runLayout(m, &slots, out: out, [xi], key: .nothing) { mds in
                try DNNL.pooling(src: mds[0], srcDims: d, dstDims: [d[0], d[1], 1, 1], kind: .averageExcludingPadding, kernel: [d[2], d[3]],
                                 strides: [1, 1], dilations: [1, 1], padsBegin: [0, 0], padsEnd: [0, 0])
            }
        case let .eltwise(kind):
            guard let xi = m.inputs[0], let d = dims4(slots[xi]) else { return false }
            let e: DNNL.Eltwise
            switch kind {
            case .relu: e = .relu(slope: 0)
            case let .leakyRelu(a): e = .relu(slope: a)
            case .sigmoid: e = .sigmoid
            case .tanh: e = .tanh
            case var .clip(lo, hi):
                for (k, input) in m.inputs.enumerated().dropFirst() {
                    guard let input else { continue }
                    guard let t = slots[input].plain, t.dtype == .float32, t.count == 1 else { return false }
                    if k == 1 { lo = t.floats[0] } else { hi = t.floats[0] }
                }
                e = .clip(lo: lo, hi: hi)
            }
            return try runLayout(m, &slots, out: out, [xi], key: .eltwise(e), inPlace: true) { mds in try DNNL.eltwise(src: mds[0], dims: d, e) }
        case .add:
            guard let ai = m.inputs[0], let bi = m.inputs[1], let d = dims4(slots[ai]), dims4(slots[bi]) == d else { return false }
            let a = try current(&slots[ai])
            let b = try laidOut(&slots[bi], a.md)
            defer { if b.fresh { pool.give(b.buffer) } }
            let prim = try m.cache.layout(BlockedRegionCache.LayoutKey(extra: .nothing, dims: [d], mds: [a.md])) { try DNNL.add(a.md, a.md, dims: d) }
            guard let prim else { return false }
            slots[out] = Slot(plain: nil, blocked: try prim.run([a.buffer.pointer, b.buffer.pointer], pool: pool))
            return true
        case let .batchNorm(eps):
            guard let xi = m.inputs[0], let d = dims4(slots[xi]), m.inputs.count == 5 else { return false }
            // scale, bias, mean, variance: C floats each, as oneDNN's scale, shift, mean, variance.
            var params: [Tensor] = []
            for case let i in m.inputs.dropFirst() {
                guard let i, let t = slots[i].plain, t.dtype == .float32, t.count == d[1] else { return false }
                params.append(t)
            }
            let overwrite = mayOverwrite(m, xi, &slots)
            let src = try current(&slots[xi])
            let relu = m.fusedRelu != nil
            let key = BlockedRegionCache.LayoutKey(extra: .batchNorm(eps, relu: relu), dims: [d], mds: [src.md])
            guard let prim = try m.cache.layout(key, { try DNNL.batchNorm(src: src.md, dims: d, epsilon: eps, relu: relu) }) else { return false }
            let into = overwrite && DNNL.same(prim.dstMD, src.md) ? takeOver(xi, &slots, md: src.md) : nil
            let md = try DNNL.plainDesc([d[1]])
            let arrays = params.map(\.floats)
            let y = try arrays[0].withUnsafeBufferPointer { scale in
                try arrays[1].withUnsafeBufferPointer { shift in
                    try arrays[2].withUnsafeBufferPointer { mean in
                        try arrays[3].withUnsafeBufferPointer { variance in
                            try prim.run([src.buffer.pointer], pool: pool, into: into, extra: [
                                (Int32(DNNL_ARG_SCALE), md, UnsafeMutableRawPointer(mutating: scale.baseAddress!)),
                                (Int32(DNNL_ARG_SHIFT), md, UnsafeMutableRawPointer(mutating: shift.baseAddress!)),
                                (Int32(DNNL_ARG_MEAN), md, UnsafeMutableRawPointer(mutating: mean.baseAddress!)),
                                (Int32(DNNL_ARG_VARIANCE), md, UnsafeMutableRawPointer(mutating: variance.baseAddress!)),
                            ])
                        }
                    }
                }
            }
            slots[out] = Slot(plain: nil, blocked: y)
            return true
        case .concat:
            let ins = m.inputs.compactMap { $0 }
            guard ins.count == m.inputs.count, !ins.isEmpty else { return false }
            var dims: [[Int]] = []
            for i in ins {
                guard let d = dims4(slots[i]) else { return false }
                dims.append(d)
            }
            let first = dims[0]
            guard dims.allSatisfy({ $0[0] == first[0] && $0[2] == first[2] && $0[3] == first[3] }) else { return false }
            let outDims = [first[0], dims.reduce(0) { $0 + $1[1] }, first[2], first[3]]
            return try runLayout(m, &slots, out: out, ins, key: .nothing) { mds in try DNNL.concat(mds, dstDims: outDims, axis: 1) }
        }
    }

    /// Runs a primitive that takes its sources in their current layouts, built once per
    /// (sources' dims and layouts, `key`: what else the member's primitive depends on).
    /// `inPlace`: the primitive may write over its (single) source when that source dies here.
    private func runLayout(_ m: Member, _ slots: inout [Slot], out: Int, _ ins: [Int], key: BlockedRegionCache.Extra, inPlace: Bool = false,
                           make: ([dnnl_memory_desc_t]) throws -> DNNL.LayoutPrimitive) throws -> Bool {
        let overwrite = inPlace && ins.count == 1 && mayOverwrite(m, ins[0], &slots)
        var srcs: [DNNL.Blocked] = []
        for i in ins { srcs.append(try current(&slots[i])) }
        let mds = srcs.map(\.md)
        guard let prim = try m.cache.layout(BlockedRegionCache.LayoutKey(extra: key, dims: srcs.map(\.dims), mds: mds), { try make(mds) }) else { return false }
        let into = overwrite && DNNL.same(prim.dstMD, mds[0]) ? takeOver(ins[0], &slots, md: mds[0]) : nil
        let y = try prim.run(srcs.map(\.buffer.pointer), pool: pool, into: into)
        slots[out] = Slot(plain: nil, blocked: y)
        return true
    }

    /// Runs the 1x1 `m` and its depthwise `d` as one oneDNN primitive; false when the shapes or
    /// oneDNN do not allow it (then each runs alone).
    private func runPointwiseDepthwise(_ m: Member, _ d: FollowingDepthwise, _ slots: inout [Slot], pool threadPool: ThreadPool) throws -> Bool {
        guard let xi = m.inputs[0], let wi = m.inputs[1], let dwi = d.member.inputs[1], let out = d.member.outputs[0], let dims = dims4(slots[xi]),
              let w = slots[wi].plain, w.dtype == .float32, let dw = slots[dwi].plain, dw.dtype == .float32 else { return false }
        let bias = m.inputs.count > 2 ? m.inputs[2].flatMap { slots[$0].plain } : nil
        let dwBias = d.member.inputs.count > 2 ? d.member.inputs[2].flatMap { slots[$0].plain } : nil
        if let bias, bias.dtype != .float32 || bias.count != w.shape.first { return false }
        if let dwBias, dwBias.dtype != .float32 || dwBias.count != dw.shape.first { return false }
        guard let fused = d.fusion.primitive(input: dims, tag: dnnl_nChw16c, weights: w, hasBias: bias != nil, depthwiseWeights: dw,
                                             pieces: PointwiseDepthwiseFusion.pieces(poolThreads: threadPool.threads)) else { return false }
        // 16 channels in NHWC are the bytes of nChw16c: no reorder (MobileNetV2's 16-channel 112x112 input).
        let src: (buffer: DNNL.Buffer, fresh: Bool)
        if let b = slots[xi].blocked, dims[1] == 16, let nhwc = try? DNNL.typedDesc(dims, dnnl_f32, dnnl_nhwc), DNNL.same(b.md, nhwc) {
            src = (b.buffer, false)
        } else {
            src = try laidOut(&slots[xi], fused.srcMD)
        }
        defer { if src.fresh { pool.give(src.buffer) } }
        let dst = pool.take(DNNL.size(fused.dstMD))
        if DNNL.isPadded(fused.dstMD, dims: fused.output) { dst.pointer.initializeMemory(as: UInt8.self, repeating: 0, count: dst.bytes) }
        let zeros = dwBias == nil ? [Float](repeating: 0, count: fused.output[1]) : []
        let plane = fused.output[2] * fused.output[3] * MemoryLayout<Float>.stride
        let biasValues = bias?.floats
        try (dwBias?.floats ?? zeros).withUnsafeBufferPointer { db in
            try (biasValues ?? []).withUnsafeBufferPointer { pb in
                let pbBase = biasValues == nil ? nil : pb.baseAddress
                func piece(_ i: Int) throws {
                    let p = fused.convs[i]
                    try p.conv.run(src: src.buffer.pointer, weights: p.weights, bias: pbBase.map { $0 + p.channel }, depthwiseBias: db.baseAddress! + p.channel,
                                   dst: dst.pointer + p.channel * plane, pool: fused.scratch[i])
                }
                if fused.convs.count == 1 {
                    try piece(0)
                } else {
                    try DNNL.runPieces(fused.convs.count, on: threadPool, call: "pointwise-depthwise pieces", piece)
                }
            }
        }
        slots[out] = Slot(plain: nil, blocked: DNNL.Blocked(dims: fused.output, md: fused.dstMD, buffer: dst))
        return true
    }

    private func runConv(_ m: Member, _ attrs: NNConvAttributes, _ act: ContribActivation?, _ slots: inout [Slot], out: Int, threads: Int,
                         pool threadPool: ThreadPool) throws -> Bool {
        guard m.inputs.count >= 2, let xi = m.inputs[0], let wi = m.inputs[1], let d = dims4(slots[xi]),
              let w = slots[wi].plain, w.dtype == .float32, w.rank == 4 else { return false }
        let bias = m.inputs.count > 2 ? m.inputs[2].flatMap { slots[$0].plain } : nil
        if let bias, bias.dtype != .float32 { return false }
        let zi = m.inputs.count > 3 ? m.inputs[3] : nil
        // The last call's outcome when nothing it depended on changed: building, copying and
        // comparing specs (eight arrays each) took a quarter of a chain of small convolutions.
        let inputMD = slots[xi].blocked?.md
        // Layouts depend on how far apart the pool's cores are (``BlockedConvLayout``); a change re-resolves.
        // Read once per call: the split below takes the same reading (a split exists only when this is the pool's).
        let coresFar = threads == 1 && threadPool.threads > 1 && threadPool.coresFarApart
        let resolved: BlockedRegionCache.ResolvedConv
        if let r = m.cache.resolved(input: d, inputMD: inputMD, weights: w, hasBias: bias != nil, sum: zi != nil, threads: threads,
                                    poolThreads: threadPool.threads, coresFar: coresFar) {
            resolved = r
        } else {
            guard let r = resolveConv(m, attrs, act, input: d, inputMD: inputMD, weights: w, hasBias: bias != nil, sum: zi != nil,
                                      threads: threads, pool: threadPool, coresFar: coresFar) else { return false }
            m.cache.keep(r)
            resolved = r
        }
        let s = (m: resolved.outShape[1], outShape: resolved.outShape)
        let (split, single, conv) = (resolved.split, resolved.single, resolved.conv)
        guard bias == nil || bias?.count == s.m else { return false }
        if let zi { guard dims4(slots[zi]) == s.outShape else { return false } }
        guard try Shape.elementCount(s.outShape) > 0, d.allSatisfy({ $0 > 0 }) else { return false }
        // A residual that dies here is summed in its own buffer (no copy), asked before any reference to it is taken.
        let overwriteZ = zi.map { mayOverwrite(m, $0, &slots) } ?? false
        let src = try laidOut(&slots[xi], conv.srcMD, split: threads == 1 && threadPool.threads > 1 ? threadPool : nil)
        defer { if src.fresh { pool.give(src.buffer) } }
        let dst: DNNL.Buffer
        if let zi {
            let z = try laidOut(&slots[zi], conv.dstMD)
            if z.fresh {
                dst = z.buffer
            } else if overwriteZ, let own = takeOver(zi, &slots, md: conv.dstMD) {
                dst = own
            } else {
                dst = pool.take(DNNL.size(conv.dstMD))
                dst.pointer.copyMemory(from: z.buffer.pointer, byteCount: dst.bytes)
            }
        } else {
            dst = pool.take(DNNL.size(conv.dstMD))
            if DNNL.isPadded(conv.dstMD, dims: s.outShape) { dst.pointer.initializeMemory(as: UInt8.self, repeating: 0, count: dst.bytes) }
        }
        func execute(_ b: UnsafePointer<Float>?) throws {
            if let split {
                try split.run(src: src.buffer.pointer, bias: b, dst: dst.pointer, buffers: pool, pool: threadPool, coresFarApart: coresFar)
            } else if let (conv, packed) = single {
                try conv.runBlocked(src: src.buffer.pointer, weights: packed, bias: b, dst: dst.pointer, pool: pool)
            }
        }
        if let bias { try bias.floats.withUnsafeBufferPointer { try execute($0.baseAddress) } } else { try execute(nil) }
        slots[out] = Slot(plain: nil, blocked: DNNL.Blocked(dims: s.outShape, md: conv.dstMD, buffer: dst))
        return true
    }

    /// Works out a convolution member's primitive for these shapes and layouts: its spec (the last
    /// call's when the shapes match), the layout ``BlockedConvLayout`` picks (oneDNN's own when that
    /// gets only a reference kernel), split over the pool or whole; nil when oneDNN refuses it.
    private func resolveConv(_ m: Member, _ attrs: NNConvAttributes, _ act: ContribActivation?, input d: [Int], inputMD: dnnl_memory_desc_t?,
                             weights w: Tensor, hasBias: Bool, sum: Bool, threads: Int, pool threadPool: ThreadPool,
                             coresFar: Bool) -> BlockedRegionCache.ResolvedConv? {
        // The spec of the last call when the input and weight shapes are the same (it depends on
        // nothing else but the member's attributes): its shape arithmetic and a fresh spec to
        // hash took about a µs per convolution at batch 1.
        var spec: DNNL.ConvSpec
        if let last = m.cache.lastSpec(input: d, weights: w.shape, hasBias: hasBias, sum: sum, threads: threads) {
            spec = last
        } else {
            guard let s = try? attrs.shapes(x: d, w: w.shape, op: "Conv"), let eltwise = ConvEpilogue(activation: act).dnnlEltwise else { return nil }
            spec = DNNL.ConvSpec(input: d, output: s.outShape, weights: w.shape, group: attrs.group, strides: s.g.strides,
                                 dilations: s.g.dilations, padsBegin: s.g.padsBegin, padsEnd: s.g.padsEnd, hasBias: hasBias,
                                 sum: sum, eltwise: eltwise, blocked: true, threads: threads)
            m.cache.remember(spec)
        }
        spec.layout = BlockedConvLayout.choice(for: spec, input: inputMD, poolThreads: threadPool.threads, coresFar: coresFar)
        if spec.layout != .any, m.cache.fallsBack(spec) { spec.layout = .any }
        let floats = w.floats
        // Several intra-op threads on 1-thread primitives: the convolution split over the pool.
        var split = threads == 1 && threadPool.threads > 1 ? m.cache.splits.split(spec, weights: floats, threads: threadPool.threads) : nil
        var single = split == nil ? m.cache.convolution(spec, weights: floats) : nil
        if spec.layout != .any, (split?.whole ?? single?.0).map({ $0.conv.implementation.hasPrefix("ref") }) ?? true {
            // oneDNN has no fast kernel for the chosen layout: its own pick, remembered for the next calls.
            m.cache.rememberFallback(spec)
            spec.layout = .any
            split = threads == 1 && threadPool.threads > 1 ? m.cache.splits.split(spec, weights: floats, threads: threadPool.threads) : nil
            single = split == nil ? m.cache.convolution(spec, weights: floats) : nil
        }
        guard let conv = split?.whole ?? single?.0 else { return nil }
        return BlockedRegionCache.ResolvedConv(input: d, inputMD: inputMD, weights: floats, weightShape: w.shape, hasBias: hasBias, sum: sum,
                                               threads: threads, poolThreads: threadPool.threads, coresFar: coresFar, outShape: spec.output,
                                               conv: conv, split: split, single: single)
    }
}

/// The reorder of a region's value to its plain layout, the last one kept: a model called with one
/// shape finds it without building the plain descriptor and hashing both (about a µs a call).
final class PlainReorder: @unchecked Sendable {
    private let lock = NSLock()
    private var last: DNNL.Reorder?

    func reorder(from md: dnnl_memory_desc_t, dims: [Int]) throws -> DNNL.Reorder {
        lock.lock()
        let known = last
        lock.unlock()
        if let known, DNNL.bytesEqual(known.from, md) { return known }
        let made = try DNNL.reorder(from: md, to: DNNL.plainDesc(dims))
        lock.lock()
        last = made
        lock.unlock()
        return made
    }
}

/// One region node's oneDNN primitives, made on the first call with a given shape and layout and
/// reused (bounded: a client cycling through input sizes must not grow it without end). A shape
/// oneDNN refuses is remembered, and that node runs on Berth's kernel for it.
final class BlockedRegionCache: @unchecked Sendable {
    private final class ConvEntry {
        let conv: DNNL.Convolution
        var packed: (source: [Float], buffer: DNNL.Buffer)?
        init(_ conv: DNNL.Convolution) { self.conv = conv }
    }
    private let lock = NSLock()
    private var convs: [DNNL.ConvSpec: ConvEntry?] = [:]
    private var layouts: [LayoutKey: DNNL.LayoutPrimitive?] = [:]
    /// The entry the last call used: a model called with one shape finds it without hashing.
    private var lastLayout: (key: LayoutKey, primitive: DNNL.LayoutPrimitive?)?
    private static let maxEntries = 16
    /// The node's convolutions split over several intra-op threads (``SplitConvolution``).
    let splits = SplitConvolutionCache()
    /// A convolution member's primitive as the last call worked it out, with what it depended on.
    final class ResolvedConv: @unchecked Sendable {
        let input: [Int], inputMD: dnnl_memory_desc_t?, weightShape: [Int]
        /// The weights it was packed from (compared by storage).
        let weights: [Float]
        let hasBias: Bool, sum: Bool, threads: Int, poolThreads: Int, coresFar: Bool
        let outShape: [Int]
        let conv: DNNL.Convolution
        let split: SplitConvolution?
        let single: (DNNL.Convolution, DNNL.Buffer)?
        init(input: [Int], inputMD: dnnl_memory_desc_t?, weights: [Float], weightShape: [Int], hasBias: Bool, sum: Bool, threads: Int, poolThreads: Int,
             coresFar: Bool, outShape: [Int], conv: DNNL.Convolution, split: SplitConvolution?, single: (DNNL.Convolution, DNNL.Buffer)?) {
            (self.input, self.inputMD, self.weights, self.weightShape) = (input, inputMD, weights, weightShape)
            (self.hasBias, self.sum, self.threads, self.poolThreads, self.coresFar) = (hasBias, sum, threads, poolThreads, coresFar)
            (self.outShape, self.conv, self.split, self.single) = (outShape, conv, split, single)
        }
    }
    private var lastResolved: ResolvedConv?

    /// The last call's ``ResolvedConv`` when this call has the same input shape and layout, the
    /// same weights (storage) and the same flags and thread counts.
    func resolved(input: [Int], inputMD: dnnl_memory_desc_t?, weights: Tensor, hasBias: Bool, sum: Bool, threads: Int, poolThreads: Int,
                  coresFar: Bool) -> ResolvedConv? {
        lock.lock()
        let r = lastResolved
        lock.unlock()
        guard let r, r.input == input, r.hasBias == hasBias, r.sum == sum, r.threads == threads, r.poolThreads == poolThreads, r.coresFar == coresFar,
              r.weightShape == weights.shape else { return nil }
        switch (r.inputMD, inputMD) {
        case (nil, nil): break
        case let (a?, b?): guard DNNL.bytesEqual(a, b) else { return nil }
        default: return nil
        }
        guard weights.dtype == .float32 else { return nil }
        let same = weights.floats.withUnsafeBufferPointer { a in r.weights.withUnsafeBufferPointer { $0.baseAddress == a.baseAddress && $0.count == a.count } }
        return same ? r : nil
    }

    /// Keeps `r` for the next call's ``resolved(input:inputMD:weights:hasBias:sum:threads:poolThreads:coresFar:)``.
    func keep(_ r: ResolvedConv) {
        lock.lock()
        lastResolved = r
        lock.unlock()
    }

    /// The spec the last call built, and the entry it found (a model called with one shape finds
    /// both without shape arithmetic or hashing; the spec's arrays are shared, so == is quick).
    private var lastSpec: DNNL.ConvSpec?
    private var lastConv: (spec: DNNL.ConvSpec, entry: ConvEntry)?

    /// Specs whose chosen layout (``BlockedConvLayout``) got only oneDNN's reference kernel: they run
    /// with oneDNN's own pick. Without this, each call made both and the last-call entry alternated.
    private var fallbacks: Set<DNNL.ConvSpec> = []
    private var lastFallback: DNNL.ConvSpec?

    /// True when `spec`'s layout is known to get only the reference kernel.
    func fallsBack(_ spec: DNNL.ConvSpec) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard !fallbacks.isEmpty else { return false }
        if let l = lastFallback, l == spec { return true }
        guard fallbacks.contains(spec) else { return false }
        lastFallback = spec
        return true
    }

    /// Remembers that `spec`'s layout got only the reference kernel.
    func rememberFallback(_ spec: DNNL.ConvSpec) {
        lock.lock()
        defer { lock.unlock() }
        if fallbacks.count >= Self.maxEntries { fallbacks.removeAll() }
        fallbacks.insert(spec)
        lastFallback = spec
    }

    /// The last call's spec when it was built for these shapes and flags.
    func lastSpec(input: [Int], weights: [Int], hasBias: Bool, sum: Bool, threads: Int) -> DNNL.ConvSpec? {
        lock.lock()
        defer { lock.unlock() }
        guard let s = lastSpec, s.input == input, s.weights == weights, s.hasBias == hasBias, s.sum == sum, s.threads == threads else { return nil }
        return s
    }

    /// Keeps `spec` for the next call's ``lastSpec(input:weights:hasBias:sum:threads:)``.
    func remember(_ spec: DNNL.ConvSpec) {
        lock.lock()
        lastSpec = spec
        lock.unlock()
    }

    /// The convolution for `spec` with the weights packed for it; nil when oneDNN refuses it.
    func convolution(_ spec: DNNL.ConvSpec, weights: [Float]) -> (DNNL.Convolution, DNNL.Buffer)? {
        lock.lock()
        defer { lock.unlock() }
        let entry: ConvEntry
        if let last = lastConv, last.spec == spec {
            entry = last.entry
        } else if let known = convs[spec] {
            guard let known else { return nil }
            entry = known
        } else {
            if convs.count >= Self.maxEntries { convs.removeAll() }
            guard let made = try? DNNL.Convolution(spec) else {
                convs[spec] = .some(nil)
                return nil
            }
            entry = ConvEntry(made)
            convs[spec] = entry
        }
        lastConv = (spec, entry)
        if let p = entry.packed, p.source.count == weights.count,
           p.source.withUnsafeBufferPointer({ a in weights.withUnsafeBufferPointer { a.baseAddress == $0.baseAddress } }) {
            return (entry.conv, p.buffer)
        }
        guard let b = try? weights.withUnsafeBufferPointer({ try entry.conv.packWeights($0.baseAddress!) }) else { return nil }
        entry.packed = (weights, b)
        return (entry.conv, b)
    }

    /// What a layout primitive depends on besides its member's node and its sources.
    enum Extra: Hashable { case nothing, eltwise(DNNL.Eltwise), batchNorm(Float, relu: Bool) }

    /// A layout primitive's key: the sources' dims and layouts (compared by their bytes, hashed
    /// by rank and dims only: no per-call copy of the descriptors).
    struct LayoutKey: Hashable {
        var extra: Extra
        var dims: [[Int]]
        var mds: [dnnl_memory_desc_t]

        static func == (a: Self, b: Self) -> Bool {
            a.extra == b.extra && a.dims == b.dims && a.mds.count == b.mds.count
                && zip(a.mds, b.mds).allSatisfy { DNNL.bytesEqual($0, $1) }
        }

        func hash(into h: inout Hasher) {
            h.combine(extra)
            h.combine(dims)
        }
    }

    /// The layout primitive for `key`; nil when oneDNN refuses it.
    func layout(_ key: LayoutKey, _ make: () throws -> DNNL.LayoutPrimitive) throws -> DNNL.LayoutPrimitive? {
        lock.lock()
        defer { lock.unlock() }
        if let last = lastLayout, last.key == key { return last.primitive }
        let found: DNNL.LayoutPrimitive?
        if let known = layouts[key] {
            found = known
        } else {
            if layouts.count >= Self.maxEntries { layouts.removeAll() }
            found = try? make()
            layouts[key] = .some(found)
        }
        lastLayout = (key, found)
        return found
    }
}
#endif
