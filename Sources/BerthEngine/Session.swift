import BerthONNX
import BerthTensor
import CThreadPlacement
import Foundation
import Logging

/// A loaded, optimized, ready-to-run model. Immutable after load and safe to run from many
/// threads at once: each `run` has its own value slots.
public final class Session: Sendable {
    /// The model's metadata (IR version, opsets, producer) and its graph after optimization.
    public let model: Model
    /// The graph inputs to feed (initializers excluded).
    public let inputs: [ValueInfo]
    /// The graph outputs `run` returns.
    public let outputs: [ValueInfo]
    /// The options the session was made with.
    public let options: SessionOptions

    private let plan: ExecutionPlan
    private let pool: ThreadPool

    /// Loads a model file; external data is read from the file's folder.
    public convenience init(contentsOf url: URL, options: SessionOptions = SessionOptions()) throws {
        let model: Model
        do { model = try ModelReader.read(contentsOf: url) } catch let e as ONNXError { throw EngineError.load(e.description) }
        try self.init(model: model, options: options)
    }

    /// Loads a model from serialized bytes (no external data).
    public convenience init(data: Data, options: SessionOptions = SessionOptions()) throws {
        let model: Model
        do { model = try ModelReader.read(data) } catch let e as ONNXError { throw EngineError.load(e.description) }
        try self.init(model: model, options: options)
    }

    /// Prepares an already decoded model.
    public init(model: Model, options: SessionOptions = SessionOptions(), registry: KernelRegistry = .standard) throws {
        _ = Session.allocatorConfigured
        try Session.checkSupported(model, registry: registry)
        var model = model
        let pool = ThreadPool.shared(threads: options.intraOpThreads)
        if options.optimize {
            model.graph = try RunLimits.$active.withValue(options.limits) {
                try GraphOptimizer(registry: registry, opsetFor: model.opset(for:), pool: pool).optimize(model.graph)
            }
        }
        // The blocked-layout regions exist only in the plan; `model` keeps the plain graph.
        let planGraph = options.optimize && BlockedLayoutPass.enabled ? BlockedLayoutPass().apply(model.graph) : model.graph
        self.plan = try ExecutionPlan(graph: planGraph, opsetFor: model.opset(for:), registry: registry)
        self.model = model
        self.inputs = model.graph.inputs
        self.outputs = model.graph.outputs
        self.options = options
        self.pool = pool
        let blasThreads = BLAS.configureThreads(options.intraOpThreads)
        if blasThreads != options.intraOpThreads {
            // Only OpenBLAS's own threads (a build without oneDNN) are process-wide; split products
            // follow each session's pool (BLAS.sessionPool).
            options.logger.debug("OpenBLAS thread count is process-wide and already set", metadata: [
                "blas_threads": "\(blasThreads)", "intra_op_threads": "\(options.intraOpThreads)",
            ])
        }
        options.logger.debug("session ready", metadata: [
            "nodes": "\(plan.steps.count)", "inputs": "\(inputs.map(\.name))", "outputs": "\(outputs.map(\.name))",
        ])
    }

    /// glibc's default maps each allocation above a moving threshold (128 kB, raised to the size
    /// of each mapped block freed, up to 32 MB) afresh, page faults and all: whether a ViT's 5–20 MB
    /// activations came from reused heap pages or new mappings depended on the order of earlier
    /// frees, and ViT-Tiny at batch 32 ran in 440 or 670 ms from one process to the next. Fixed
    /// thresholds instead: blocks up to 32 MB from the heap, and up to 1 GB of free heap kept (as
    /// ORT's arena keeps its blocks). `MALLOC_MMAP_THRESHOLD_` / `MALLOC_TRIM_THRESHOLD_` override.
    /// Done by the first session, or earlier by a program that calls it first thing (`berth` does).
    public static let allocatorConfigured: Bool = berth_configure_allocator(32 << 20, 1 << 30) == 1

    /// Fails when the model imports an opset newer than the registry runs, else with one error
    /// listing every (domain, op, opset) the registry cannot run.
    static func checkSupported(_ model: Model, registry: KernelRegistry) throws {
        for (domain, version) in model.opsetImports.sorted(by: { $0.key < $1.key }) {
            if let newest = registry.newestOpset(for: domain), version > newest {
                throw EngineError.unsupportedOpset(domain: domain.isEmpty ? "ai.onnx" : domain, version: version, newest: newest)
            }
        }
        var missing: [UnsupportedOp] = []
        var seen = Set<UnsupportedOp>()
        // Subgraph nodes too, so a Loop body's unsupported op is listed with the others.
        for n in model.graph.allNodes {
            let opset = model.opset(for: n.domain) ?? 0
            if registry.factory(domain: n.domain, op: n.opType, opset: opset) == nil {
                let op = UnsupportedOp(domain: n.canonicalDomain, opType: n.opType, opset: opset)
                if seen.insert(op).inserted { missing.append(op) }
            }
        }
        if !missing.isEmpty { throw EngineError.unsupportedOperators(missing) }
    }

    /// Runs the model. `feeds` must name every graph input exactly once; returns every graph
    /// output by name. Inputs are checked against the declared dtype and shape first. For models
    /// whose inputs or outputs are sequences or optionals, use ``run(values:)``.
    /// With a `profile`, the time of each top-level node is added to it.
    public func run(_ feeds: [String: Tensor], profile: OpProfile? = nil) throws -> [String: Tensor] {
        let out = try run(values: feeds.mapValues(Value.tensor), profile: profile)
        var tensors: [String: Tensor] = [:]
        for (name, v) in out {
            guard case let .tensor(t) = v else { throw EngineError.valueKind(name: name, message: "is a \(v.kindName); Session.run(_:) returns tensors only, use run(values:)") }
            tensors[name] = t
        }
        return tensors
    }

    /// Runs the model over values of every kind (tensors, sequences, empty optionals). `feeds`
    /// must name every graph input exactly once; each is checked against its declaration.
    public func run(values feeds: [String: Value], profile: OpProfile? = nil) throws -> [String: Value] {
        var slotted: [(Int, Value)] = []
        for (name, value) in feeds {
            guard let slot = plan.inputSlots[name] else {
                throw EngineError.unknownInput(name: name, expected: inputs.map(\.name))
            }
            slotted.append((slot, value))
        }
        for info in inputs {
            guard let v = feeds[info.name] else { throw EngineError.missingInput(name: info.name) }
            try Session.check(v, against: info, kind: info.kind)
        }
        return try RunLimits.$active.withValue(options.limits) {
            try BLAS.$sessionPool.withValue(pool) {
                try plan.run(feeds: slotted, context: KernelContext(pool: pool, limits: options.limits, profile: profile))
            }
        }
    }

    /// Checks a fed value against its declared kind (and a tensor against dtype and shape).
    static func check(_ v: Value, against info: ValueInfo, kind: ValueKind) throws {
        switch (kind, v) {
        case let (.tensor, .tensor(t)): try check(t, against: info)
        case let (.sequence(element), .sequence(s)):
            if let element, element != s.elementType {
                throw EngineError.valueKind(name: info.name, message: "fed a sequence of \(s.elementType), declared a sequence of \(element)")
            }
        case (.optional, .emptyOptional): return
        case let (.optional(inner), _): try check(v, against: info, kind: inner)
        case (.other, _): return
        case (.tensor, _), (.sequence, _):
            throw EngineError.valueKind(name: info.name, message: "fed a \(v.kindName), declared a \(kind)")
        }
    }

    /// Checks a feed's dtype, rank and fixed dimensions against the declaration.
    static func check(_ t: Tensor, against info: ValueInfo) throws {
        if let dtype = info.dtype, dtype != t.dtype {
            throw EngineError.inputDType(name: info.name, expected: dtype, got: t.dtype)
        }
        guard let dims = info.shape else { return }
        guard dims.count == t.rank else { throw EngineError.inputShape(name: info.name, expected: dims, got: t.shape) }
        for (d, n) in zip(dims, t.shape) {
            if let v = d.value, v != n { throw EngineError.inputShape(name: info.name, expected: dims, got: t.shape) }
        }
    }
}
