import BerthEngine
import BerthONNX
import BerthProtocol
import Foundation
import Logging

/// One loaded, warmed-up model version (TF Serving's "servable"): the session, its batcher and
/// its statistics. Immutable; the ``ModelManager`` swaps servables, never mutates them. A request
/// holds the servable between ``acquire()`` and ``release()``; ``drain()`` waits for those.
public final class Servable: Sendable {
    /// The model name.
    public let model: String
    /// The version number.
    public let version: Int
    /// The engine session.
    public let session: Session
    /// The model's configuration as read from the repository.
    public let config: ModelConfig
    /// Rows per merged execution after defaults (0: no merging).
    public let maxBatchSize: Int
    /// Triton-style counters for `/stats`.
    public let stats: ModelStatistics
    /// The repository fingerprint of the files it was loaded from.
    public let fingerprint: String
    /// What requests are checked against: the session's inputs and outputs.
    public let interface: ModelInterface
    let batcher: Batcher
    /// The config's `reshape`s, applied around every run.
    let reshapes: TensorReshapes
    /// Output name → class labels (the classification extension).
    let labels: [String: [String]]
    private let gate = RequestGate()

    init(model: String, version: Int, session: Session, config: ModelConfig, fingerprint: String,
         metrics: ServerMetrics, logger: Logger, labels: [String: [String]] = [:]) {
        self.labels = labels
        self.model = model
        self.version = version
        self.session = session
        self.config = config
        self.fingerprint = fingerprint
        self.maxBatchSize = config.maxBatchSize ?? Self.defaultMaxBatchSize(session)
        self.interface = Self.interface(model, session: session, config: config, batched: maxBatchSize > 0)
        self.reshapes = TensorReshapes(config, batched: maxBatchSize > 0)
        let stats = ModelStatistics()
        self.stats = stats
        self.batcher = Batcher(model: model, version: String(version), session: session, maxBatchSize: maxBatchSize,
                               enforceMaxBatchSize: config.maxBatchSize != nil, batching: config.dynamicBatching ?? .init(), instances: config.instanceCount,
                               stats: stats, metrics: metrics, logger: logger)
    }

    /// Registers a request using this servable; false once it is draining (look it up again).
    func acquire() -> Bool { gate.enter() }

    /// Ends a request registered by ``acquire()``.
    func release() { gate.leave() }

    /// Requests holding the servable right now.
    var requestsInFlight: Int { gate.count }

    /// Refuses new requests, waits until every request holding the servable has finished
    /// (including recording its metrics), then stops the batcher's workers.
    func drain() async {
        await gate.closeAndWait()
        await batcher.shutdown()
    }

    /// The version as the protocol spells it.
    public var versionString: String { String(version) }

    /// 32 when every input and output has a dynamic first dimension (a batch axis), else 0.
    static func defaultMaxBatchSize(_ session: Session) -> Int {
        func batchable(_ infos: [ValueInfo]) -> Bool {
            infos.allSatisfy { info in
                guard let first = info.shape?.first else { return info.shape == nil }
                if case .fixed = first { return false }
                return true
            }
        }
        return !session.inputs.isEmpty && batchable(session.inputs) && batchable(session.outputs) ? 32 : 0
    }
}


extension TensorSpec {
    /// The spec of a tensor the ONNX graph declares.
    init(_ info: ValueInfo) {
        self.init(name: info.name, dtype: info.dtype, shape: info.shape.map { $0.map(\.value) })
    }
}
