import BerthONNX
import BerthTensor

/// A ready-to-run kernel: attributes are already parsed; takes the node's inputs (nil for an
/// omitted optional input) and returns its outputs in order.
public typealias Kernel = @Sendable (_ inputs: [Tensor?], _ context: KernelContext) throws -> [Tensor]

/// Builds a kernel for one node at plan time, given the opset the model imports for its domain.
public typealias KernelFactory = @Sendable (_ node: Node, _ opset: Int) throws -> Kernel

/// A kernel over values of every kind (tensors, sequences, empty optionals): the sequence and
/// optional ops, and the control-flow ops whose subgraphs may carry such values.
public typealias ValueKernel = @Sendable (_ inputs: [Value?], _ context: KernelContext) throws -> [Value]

/// Builds a ``ValueKernel`` at plan time: like ``KernelFactory``, plus the plan builder's
/// ``SubgraphCompiler``, so a node's graphs (If, Loop, Scan, SequenceMap) are compiled once,
/// with the registry and opsets of the enclosing plan.
typealias ValueKernelFactory = @Sendable (_ node: Node, _ opset: Int, _ subgraphs: SubgraphCompiler) throws -> ValueKernel

/// The kernel of one plan step: over tensors (almost every op) or over values.
enum StepKernel: Sendable {
    case tensors(Kernel)
    case values(ValueKernel)
}

/// What a kernel may use while it runs.
public struct KernelContext: Sendable {
    /// The intra-op pool.
    public let pool: ThreadPool
    /// Bounds on work whose size the model decides at run time (Loop iterations and output).
    public let limits: RunLimits
    /// Collects time per node when the caller asked for a profile.
    public let profile: OpProfile?
    public init(pool: ThreadPool, limits: RunLimits = RunLimits(), profile: OpProfile? = nil) {
        self.pool = pool
        self.limits = limits
        self.profile = profile
    }
}

/// Kernels by (domain, op type, opset range), like ONNX Runtime's kernel registry.
public struct KernelRegistry: Sendable {
    private struct Key: Hashable { var domain: String; var op: String }
    private struct Entry { var opsets: ClosedRange<Int>; var make: Make }
    private enum Make {
        case plain(KernelFactory)
        case values(ValueKernelFactory)
    }
    private var entries: [Key: [Entry]] = [:]

    /// The newest opset per domain the kernels were written against. A model importing a newer
    /// one is refused at load, as ONNX Runtime refuses it: an operator may have changed meaning
    /// in that opset, and a kernel registered as `n...Int.max` would silently run the old one.
    /// Domains without an entry are not limited (their operators are checked one by one).
    public var newestOpsets: [String: Int] = [:]

    public init() {}

    /// The newest opset of `domain` this registry runs, or nil when it sets no limit.
    public func newestOpset(for domain: String) -> Int? {
        newestOpsets[domain.isEmpty ? "ai.onnx" : domain]
    }

    /// Registers `factory` for `op` in `domain` for the opsets in `opsets`. A range that overlaps
    /// one already registered for the same (domain, op) is a programming error and stops the
    /// process (ONNX Runtime refuses such a registration too): which kernel ran would depend on
    /// registration order. Use ``registerChecked(_:domain:opsets:_:)`` to get an error instead.
    public mutating func register(_ op: String, domain: String = "ai.onnx", opsets: ClosedRange<Int> = 1...Int.max, _ factory: @escaping KernelFactory) {
        do { try registerChecked(op, domain: domain, opsets: opsets, factory) } catch { preconditionFailure("\(error)") }
    }

    /// Registers like ``register(_:domain:opsets:_:)``, throwing ``OverlappingOpsets`` when the
    /// range overlaps one already registered for the same (domain, op).
    public mutating func registerChecked(_ op: String, domain: String = "ai.onnx", opsets: ClosedRange<Int> = 1...Int.max,
                                         _ factory: @escaping KernelFactory) throws {
        try add(op, domain: domain, opsets: opsets, .plain(factory))
    }

    /// Registers an op that takes or returns sequences or optionals, or whose nodes carry
    /// subgraphs; the execution plan hands its factory a ``SubgraphCompiler``. Overlapping
    /// ranges stop the process, as in ``register(_:domain:opsets:_:)``.
    mutating func register(_ op: String, domain: String = "ai.onnx", opsets: ClosedRange<Int>, values factory: @escaping ValueKernelFactory) {
        do { try add(op, domain: domain, opsets: opsets, .values(factory)) } catch { preconditionFailure("\(error)") }
    }

    private mutating func add(_ op: String, domain: String, opsets: ClosedRange<Int>, _ make: Make) throws {
        let d = domain.isEmpty ? "ai.onnx" : domain
        let key = Key(domain: d, op: op)
        if let clash = entries[key]?.first(where: { $0.opsets.overlaps(opsets) }) {
            throw OverlappingOpsets(domain: d, op: op, registered: clash.opsets, new: opsets)
        }
        entries[key, default: []].append(Entry(opsets: opsets, make: make))
    }

    /// The opset ranges registered for (domain, op), in registration order.
    public func opsetRanges(domain: String, op: String) -> [ClosedRange<Int>] {
        entries[Key(domain: domain.isEmpty ? "ai.onnx" : domain, op: op)]?.map(\.opsets) ?? []
    }

    /// Two kernels registered for overlapping opsets of one (domain, op).
    public struct OverlappingOpsets: Error, CustomStringConvertible {
        public var domain: String, op: String, registered: ClosedRange<Int>, new: ClosedRange<Int>
        public var description: String {
            func text(_ r: ClosedRange<Int>) -> String { "\(r.lowerBound)...\(r.upperBound == Int.max ? "" : String(r.upperBound))" }
            return "\(domain)::\(op): opsets \(text(new)) overlap the kernel already registered for \(text(registered))"
        }
    }

    /// The factory for `op` at `opset`, or nil when none is registered. An op over values
    /// (sequences, optionals, subgraphs) gets a factory that throws: its kernel can only be built
    /// by an execution plan (constant folding never folds such nodes).
    public func factory(domain: String, op: String, opset: Int) -> KernelFactory? {
        switch entry(domain: domain, op: op, opset: opset)?.make {
        case nil: return nil
        case let .plain(f)?: return f
        case .values?:
            return { node, _ in throw KernelError("\(node.opType) works on sequences or subgraphs; only an execution plan can build its kernel") }
        }
    }

    /// The kernel for `node` at `opset`, compiling its subgraphs with `subgraphs` when the op
    /// has them; nil when no kernel is registered.
    func makeKernel(_ node: Node, opset: Int, subgraphs: SubgraphCompiler) throws -> StepKernel? {
        switch entry(domain: node.domain, op: node.opType, opset: opset)?.make {
        case nil: return nil
        case let .plain(f)?: return .tensors(try f(node, opset))
        case let .values(f)?: return .values(try f(node, opset, subgraphs))
        }
    }

    private func entry(domain: String, op: String, opset: Int) -> Entry? {
        let d = domain.isEmpty ? "ai.onnx" : domain
        return entries[Key(domain: d, op: op)]?.first(where: { $0.opsets.contains(opset) })
    }

    /// Every (domain, op) with at least one kernel, sorted.
    public var supportedOps: [(domain: String, op: String)] {
        entries.keys.map { ($0.domain, $0.op) }.sorted { ($0.domain, $0.op) < ($1.domain, $1.op) }
    }

    /// The registry with every kernel Berth ships.
    public static let standard: KernelRegistry = {
        var r = KernelRegistry()
        // ai.onnx 21 and ai.onnx.ml 5 (TreeEnsemble); the conformance data needs 17 and 5.
        r.newestOpsets = ["ai.onnx": 21, "ai.onnx.ml": 5, "com.microsoft": 1]
        r.registerEveryKernelFamily()
        return r
    }()
}

extension Array where Element == Tensor? {
    /// Input `i`, or a ``KernelError`` when it is missing.
    @inline(__always)
    public func required(_ i: Int) throws -> Tensor {
        guard i < count, let t = self[i] else { throw KernelError("required input \(i) is missing") }
        return t
    }

    /// Input `i` when present.
    @inline(__always)
    public func optional(_ i: Int) -> Tensor? {
        i < count ? self[i] : nil
    }
}

extension KernelRegistry {
    /// Registers every kernel family Berth has (what ``standard`` holds).
    mutating func registerEveryKernelFamily() {
        registerElementwiseKernels()
        registerMathKernels()
        registerNNKernels()
        registerNormalizationKernels()
        registerReductionKernels()
        registerTensorKernels()
        registerMLKernels()
        registerFusedKernels()
        registerControlFlowKernels()
        registerRNNKernels()
        registerSequenceOps()
        registerLossKernels()
        registerSignalKernels()
        registerRandomKernels()
        registerTextKernels()
        registerContribKernels()
        registerTrainingKernels()
    }
}
