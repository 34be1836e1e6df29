import BerthEngine
import BerthONNX
import Foundation
import Logging

/// One loaded, warmed-up model version (TF Serving's "servable"): the session, its batcher and
/// its statistics. Immutable; the ``ModelManager`` swaps servables, never mutates them.
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
    let batcher: Batcher

    init(model: String, version: Int, session: Session, config: ModelConfig, fingerprint: String,
         metrics: ServerMetrics, logger: Logger) {
        self.model = model
        self.version = version
        self.session = session
        self.config = config
        self.fingerprint = fingerprint
        self.maxBatchSize = config.maxBatchSize ?? Self.defaultMaxBatchSize(session)
        let stats = ModelStatistics()
        self.stats = stats
        self.batcher = Batcher(model: model, version: String(version), session: session, maxBatchSize: maxBatchSize,
                               batching: config.dynamicBatching ?? .init(), instances: config.instanceCount,
                               stats: stats, metrics: metrics, logger: logger)
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

