#if canImport(CDNNL)
import BerthONNX
import BerthTensor
import Foundation

/// A blocked-layout region run as whole-network batch slices over the intra-op pool: at batch
/// ≥ 2 × threads each pool thread runs the entire region on its own slice of the images (1-thread
/// primitives, nothing split inside), instead of every convolution being split into batch pieces
/// with a join after each. One join per call instead of one per convolution, and the pooling,
/// element-wise and reorder primitives between the convolutions (one thread each when split per
/// convolution) run in parallel too. At one thread, large batches run in a few slices one after
/// another, so the region's buffers hold a slice, not the batch (``serialSlices``).
///
/// Only for regions whose every node treats images independently: convolutions, pooling,
/// element-wise, same-shape Add, channel Concat and inference BatchNormalization (no int8 nodes,
/// whose quantization may span the batch). Inputs read as activations must all be float32 rank-4
/// tensors with one batch size; inputs read as parameters (weights, bias, Clip bounds, normalization
/// statistics) go whole to every slice. An input read both ways, or any other call, runs unsliced.
/// `BERTH_REGION_BATCH_SLICES=0` turns it off (A/B measurements).
struct RegionBatchSlices: Sendable {
    /// Positions in the region's inputs that nodes read as activations (batch first).
    let activations: [Int]

    static let enabled = ProcessInfo.processInfo.environment["BERTH_REGION_BATCH_SLICES"] != "0"
    /// Slices per pool thread (a descheduled thread delays one slice, not half the call).
    static let slicesPerThread = 2
    /// Activation elements per image below which a region runs unsliced: a slice's fixed cost (a
    /// pass over every node) outweighs the joins it saves on small images (the MNIST CNN, 784
    /// floats per image, was 5 % slower sliced at batch 32 on 2 threads; ResNet-50 and MobileNetV2,
    /// 150,528, 5–9 % faster).
    static let minimumImageElements = 1 << 14
    /// At one thread a region runs in `serialSlices` slices too from batch 8 on, one after
    /// another, for memory: the buffers and scratchpads (Winograd's transformed tiles) of a slice,
    /// not of the whole batch. `BERTH_REGION_SERIAL_SLICES` sets the count (0 or 1: unsliced).
    static let serialSlices = Int(ProcessInfo.processInfo.environment["BERTH_REGION_SERIAL_SLICES"] ?? "") ?? 2
    static let serialMinimumBatch = serialSlices > 1 ? max(8, serialSlices) : Int.max

    /// The slicing of a region with `body`, or nil when a node may mix images.
    init?(body: Graph) {
        guard Self.enabled else { return nil }
        var index: [String: Int] = [:]
        for (k, i) in body.inputs.enumerated() { index[i.name] = k }
        var data = Set<Int>(), params = Set<Int>()
        for n in body.nodes {
            guard let op = BlockedRegionOp(n) else { return nil }
            let dataPositions: Set<Int>
            switch op {
            case .conv: dataPositions = [0, 3]
            case .add: dataPositions = [0, 1]
            case .concat: dataPositions = Set(n.inputs.indices)
            case .pool, .globalAveragePool, .eltwise, .batchNorm: dataPositions = [0]
            case .quantizedConv, .fakeQuantize: return nil
            }
            for (p, name) in n.inputs.enumerated() where !name.isEmpty {
                guard let k = index[name] else { continue }  // produced inside the region
                if dataPositions.contains(p) { data.insert(k) } else { params.insert(k) }
            }
        }
        guard !data.isEmpty, data.isDisjoint(with: params) else { return nil }
        activations = data.sorted()
    }

    /// Runs `region` on batch slices of `inputs` over `ctx.pool`, the outputs joined along the
    /// batch; nil when this call does not qualify (then the caller runs it whole).
    func run(_ inputs: [Value?], _ ctx: KernelContext, region: (_ inputs: [Value?], _ ctx: KernelContext) throws -> [Value]) throws -> [Value]? {
        let threads = ctx.pool.threads
        guard !DNNLThreads.followsIntraOp else { return nil }
        var batch: Int?
        for k in activations {
            guard k < inputs.count, let t = inputs[k]?.tensor, t.dtype == .float32, t.rank == 4, t.shape.allSatisfy({ $0 > 0 }) else { return nil }
            if batch == nil { batch = t.shape[0] } else if batch != t.shape[0] { return nil }
        }
        guard let n = batch, n >= (threads > 1 ? 2 * threads : Self.serialMinimumBatch) else { return nil }
        let image = activations.reduce(0) { $0 + inputs[$1]!.tensor!.count / n }
        guard image >= Self.minimumImageElements else { return nil }
        let count = min(n, threads > 1 ? Self.slicesPerThread * threads : Self.serialSlices)
        let partContext = KernelContext(pool: Self.serialPool, limits: ctx.limits, profile: nil)
        let results = SliceResults(count)
        ctx.pool.forEachIndex(count) { p in
            let n0 = n * p / count, n1 = n * (p + 1) / count
            var sliced = inputs
            for k in activations {
                let t = inputs[k]!.tensor!
                let image = t.count / n
                sliced[k] = .tensor(Tensor(unchecked: [n1 - n0] + t.shape.dropFirst(),
                                           storage: .float32(Array(t.floats[(n0 * image)..<(n1 * image)]))))
            }
            results.set(p, Result { try region(sliced, partContext) })
        }
        var parts: [[Value]] = []
        for p in 0..<count { parts.append(try results.get(p).get()) }
        // Each output: the slices' tensors joined along dim 0 (float32 with the slice's batch, else run whole).
        var outputs: [Value] = []
        for o in parts[0].indices {
            var shape: [Int]?
            var joined: [Float] = []
            for (p, part) in parts.enumerated() {
                let rows = n * (p + 1) / count - n * p / count
                guard o < part.count, let t = part[o].tensor, t.dtype == .float32, t.rank >= 1, t.shape[0] == rows else { return nil }
                let tail = Array(t.shape.dropFirst())
                if let s = shape { guard Array(s.dropFirst()) == tail else { return nil } } else { shape = [n] + tail }
                joined.append(contentsOf: t.floats)
            }
            guard let shape else { return nil }
            outputs.append(.tensor(Tensor(unchecked: shape, storage: .float32(joined))))
        }
        return outputs
    }

    /// The pool a slice runs with: one thread, so nothing inside it splits again.
    private static let serialPool = ThreadPool.shared(threads: 1)

    /// Each slice's outcome, written by the pool's threads.
    private final class SliceResults: @unchecked Sendable {
        private let lock = NSLock()
        private var results: [Result<[Value], Error>?]
        init(_ count: Int) { results = Array(repeating: nil, count: count) }
        func set(_ i: Int, _ r: Result<[Value], Error>) {
            lock.lock()
            results[i] = r
            lock.unlock()
        }
        func get(_ i: Int) -> Result<[Value], Error> {
            lock.lock()
            defer { lock.unlock() }
            return results[i] ?? .failure(KernelError("a batch slice of the region did not run"))
        }
    }
}
#endif
