import BerthTensor
import Foundation

/// What a Conv node runs after the convolution itself: a residual `Z` of the output's shape added
/// first, then an activation (ORT's FusedConv semantics). oneDNN fuses both as post-ops.
struct ConvEpilogue: Sendable {
    var activation: ContribActivation?

    static let none = ConvEpilogue(activation: nil)
}

/// Per-node oneDNN state: one primitive per (input shape, fusions, threads), created on the first
/// call with that shape and reused, with the weights packed once per weight tensor. A shape oneDNN
/// refuses is remembered and runs on the portable path.
final class ConvBackendCache: @unchecked Sendable {
    #if canImport(CDNNL)
    private final class Entry {
        let conv: DNNL.Convolution
        /// The packed weights and the array they were packed from (kept, so its address stays unique).
        var packed: (source: [Float], buffer: DNNL.Buffer)?
        init(conv: DNNL.Convolution) { self.conv = conv }
    }
    private let lock = NSLock()
    private var entries: [DNNL.ConvSpec: Entry] = [:]
    private var refused: Set<DNNL.ConvSpec> = []
    /// Shapes kept per node before the cache starts over.
    private static let maxEntries = 16

    /// Runs the convolution on oneDNN; nil when oneDNN is unavailable or refuses this shape.
    func run(x: [Float], w: [Float], bias: [Float]?, z: [Float]?, epilogue: ConvEpilogue,
             spec: DNNL.ConvSpec, outCount: Int) -> [Float]? {
        guard DNNL.isAvailable else { return nil }
        let entry: Entry
        let weights: DNNL.Buffer
        do {
            lock.lock()
            defer { lock.unlock() }
            if refused.contains(spec) { return nil }
            if let e = entries[spec] {
                entry = e
            } else {
                do { entry = Entry(conv: try DNNL.Convolution(spec)) } catch {
                    if refused.count >= Self.maxEntries { refused.removeAll() }
                    refused.insert(spec)
                    return nil
                }
                // Inputs with symbolic sizes make a primitive (and a packed weight copy) per shape:
                // a client cycling through sizes must not grow this without bound.
                if entries.count >= Self.maxEntries { entries.removeAll() }
                entries[spec] = entry
            }
            if let p = entry.packed, sameBuffer(p.source, w) {
                weights = p.buffer
            } else {
                guard let b = try? w.withUnsafeBufferPointer({ try entry.conv.packWeights($0.baseAddress!) }) else { return nil }
                entry.packed = (w, b)
                weights = b
            }
        }
        var failed = false
        let y = [Float](unsafeUninitializedCapacity: outCount) { yb, count in
            count = outCount
            guard let yp = yb.baseAddress else { return }
            if let z { z.withUnsafeBufferPointer { yp.initialize(from: $0.baseAddress!, count: outCount) } }
            x.withUnsafeBufferPointer { xb in
                let b = bias?.withUnsafeBufferPointer { $0.baseAddress }
                do {
                    try withExtendedLifetime(bias) {
                        try entry.conv.run(src: xb.baseAddress!, weights: weights, bias: b, dst: yp)
                    }
                } catch {
                    failed = true
                }
            }
        }
        return failed ? nil : y
    }

    private func sameBuffer(_ a: [Float], _ b: [Float]) -> Bool {
        a.count == b.count && a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in pa.baseAddress == pb.baseAddress } }
    }
    #endif
}

/// How activations are laid out around a oneDNN convolution. `auto` (= blocked) lets oneDNN pick
/// its blocked layouts and reorders in and out per call: measured here (bench/RESULTS.md) that beats
/// its plain-NCHW path (`x64:gemm:jit`) on every shape tried, 1x1 and one-channel inputs included
/// (ResNet-50 batch 1: 73 ms blocked vs 120 ms with plain 1x1s; the MNIST CNN's 1→32 conv at batch
/// 32: 9.6 ms plain). `BERTH_DNNL_LAYOUT=plain` keeps NCHW, for comparisons.
enum ConvLayoutChoice: String {
    case auto, plain, blocked

    static let current = ConvLayoutChoice(rawValue: ProcessInfo.processInfo.environment["BERTH_DNNL_LAYOUT"] ?? "") ?? .auto

    /// True for the blocked layout.
    func blocked(channels c: Int, group: Int, kernelVolume: Int) -> Bool { self != .plain }
}

/// How many OpenMP threads a oneDNN primitive uses. One by default: Debian's oneDNN runs on
/// OpenMP, whose spinning team collapses when the cores are shared (other requests, the intra-op
/// pool, other processes): ResNet-50 batch 1 took 436–483 ms with 2-thread primitives on this
/// 2-core machine under load 4–5, against 122 ms with one thread, and the MNIST CNN at batch 32
/// 15–39 ms against 5.5 ms. A server gets its parallelism across requests instead.
/// `BERTH_DNNL_THREADS=intra` makes primitives use the session's intra-op thread count.
enum DNNLThreads {
    static let followsIntraOp = ProcessInfo.processInfo.environment["BERTH_DNNL_THREADS"] == "intra"

    /// The thread count for a primitive run by a session with `intraOp` threads.
    static func count(intraOp: Int) -> Int { followsIntraOp ? max(1, intraOp) : 1 }
}

/// Whether the convolution runs on oneDNN when this binary has it (`BERTH_DNNL=0` turns it off,
/// for A/B measurements and to rule it out when debugging).
let convUsesDNNL: Bool = ProcessInfo.processInfo.environment["BERTH_DNNL"] != "0"

/// Float32 Conv with its epilogue: on oneDNN when the build has it and it takes the shape,
/// otherwise im2col + OpenBLAS and the epilogue as separate passes.
func nnConvFused(x: Tensor, w: Tensor, bias: Tensor?, z: Tensor?, epilogue: ConvEpilogue, attrs: NNConvAttributes,
                 cache: ConvBackendCache, pool: ThreadPool) throws -> Tensor {
    #if canImport(CDNNL)
    if convUsesDNNL, x.dtype == .float32, w.dtype == .float32, bias == nil || bias?.dtype == .float32,
       z == nil || z?.dtype == .float32, let eltwise = epilogue.dnnlEltwise {
        let s = try attrs.shapes(x: x.shape, w: w.shape, op: "Conv")
        if let bias, bias.count != s.m { throw KernelError("Conv bias has \(bias.count) values, expected \(s.m)") }
        let total = try Shape.elementCount(s.outShape)
        if total > 0, x.count > 0, z == nil || z?.shape == s.outShape {
            let spec = DNNL.ConvSpec(input: x.shape, output: s.outShape, weights: w.shape, group: attrs.group,
                                     strides: s.g.strides, dilations: s.g.dilations, padsBegin: s.g.padsBegin, padsEnd: s.g.padsEnd,
                                     hasBias: bias != nil, sum: z != nil, eltwise: eltwise,
                                     blocked: ConvLayoutChoice.current.blocked(channels: s.c, group: attrs.group, kernelVolume: s.kernel.reduce(1, *)),
                                     threads: DNNLThreads.count(intraOp: pool.threads))
            if let y = cache.run(x: x.floats, w: w.floats, bias: bias?.floats, z: z?.floats, epilogue: epilogue, spec: spec, outCount: total) {
                return Tensor(unchecked: s.outShape, storage: .float32(y))
            }
        }
    }
    #endif
    let y = try nnConvTensor(x, w, bias, attrs: attrs, pool: pool)
    guard z != nil || epilogue.activation != nil else { return y }
    var v = try contribFloats(y, "Conv output")
    if let z {
        guard z.shape == y.shape else { throw KernelError("the residual added to Conv must have the output's shape \(y.shape), got \(z.shape)") }
        let zv = try contribFloats(z, "Conv residual")
        for i in v.indices { v[i] += zv[i] }
    }
    epilogue.activation?.apply(&v)
    return Tensor(unchecked: y.shape, storage: .float32(v))
}

#if canImport(CDNNL)
extension ConvEpilogue {
    /// The oneDNN post-ops for the activation; nil when oneDNN has no exact match.
    var dnnlEltwise: [DNNL.Eltwise]? { activation.map { $0.dnnlEltwise } ?? [] }
}

extension ContribActivation {
    /// The oneDNN post-ops for this activation; nil when oneDNN has no exact match.
    var dnnlEltwise: [DNNL.Eltwise]? {
        switch kind {
        case .identity: return []
        case .Relu: return [.relu(slope: 0)]
        case .LeakyRelu: return [.relu(slope: a)]
        case .Clip: return [.clip(lo: a, hi: b)]
        case .Tanh: return [.tanh]
        case .Sigmoid: return [.sigmoid]
        case .HardSigmoid: return [.linear(a: a, b: b), .clip(lo: 0, hi: 1)]
        }
    }
}
#endif
