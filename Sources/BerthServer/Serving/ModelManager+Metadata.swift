import BerthProtocol

/// The answers every protocol adapter gives from the manager alone (model metadata, Triton's
/// statistics), built once here so REST and gRPC report the same thing.
extension ModelManager {
    /// The platform every model with its own ONNX file reports in its metadata.
    static let platform = "onnxruntime_onnx"

    /// Triton's platform name of a servable: `ensemble` for an ensemble, else ``platform``.
    static func platform(of s: Servable) -> String { s.config.ensemble == nil ? platform : "ensemble" }

    /// A model's metadata: the named version, or the default one with every ready version listed.
    /// Throws ``ServerError`` (unknown model or version, not ready).
    public nonisolated func metadata(model: String, version: String?) throws -> V2ModelMetadata {
        let s = try servable(model: model, version: version)
        let versions = version != nil ? [s.version] : try readyVersions(model: model)
        return V2ModelMetadata(name: model, versions: versions.map(String.init), platform: Self.platform(of: s),
                               inputs: s.interface.inputs.map(V2TensorMetadata.init), outputs: s.interface.outputs.map(V2TensorMetadata.init))
    }

    /// Triton's model configuration (`GET .../config`, gRPC `ModelConfig`) for the fields Berth serves with.
    public nonisolated func tritonConfig(model: String, version: String?) throws -> TritonModelConfig {
        let s = try servable(model: model, version: version)
        let c = s.config
        let batched = s.maxBatchSize > 0
        func io(_ specs: [TensorSpec]) -> [TritonModelConfig.TensorConfig] {
            specs.map { .init(name: $0.name, dataType: $0.dtype?.tritonConfigName ?? "TYPE_FP32",
                              dims: Array($0.metadataShape.dropFirst(batched ? 1 : 0))) }
        }
        let policy: TritonModelConfig.VersionPolicy
        switch c.versionPolicy {
        case let .latest(n): policy = .latest(n)
        case .all: policy = .all
        case let .specific(v): policy = .specific(v)
        }
        let b = c.dynamicBatching ?? .init()
        return TritonModelConfig(
            name: model, platform: Self.platform(of: s), backend: "berth", versionPolicy: policy, maxBatchSize: s.maxBatchSize,
            input: io(s.interface.inputs), output: io(s.interface.outputs),
            instanceGroup: [.init(name: model, kind: "KIND_CPU", count: c.instanceCount)],
            dynamicBatching: batched ? .init(preferredBatchSize: b.preferredBatchSizes,
                                             maxQueueDelayMicroseconds: b.maxQueueDelayMicroseconds, maxQueueSize: b.maxQueueSize) : nil,
            parameters: ["intra_op_thread_count": .init(String(s.session.options.intraOpThreads))])
    }

    /// Triton's statistics extension: one version, every ready version of `model`, or (no model)
    /// every ready version of every model.
    public nonisolated func statistics(model: String?, version: String?) throws -> TritonStatistics {
        var servables: [Servable] = []
        if let model {
            if let version {
                servables = [try servable(model: model, version: version)]
            } else {
                for v in try readyVersions(model: model) {
                    servables.append(try servable(model: model, version: String(v)))
                }
            }
        } else {
            for entry in index() where entry.state == .ready {
                if let v = entry.version, let s = try? servable(model: entry.name, version: String(v)) { servables.append(s) }
            }
        }
        return TritonStatistics(modelStats: servables.map { $0.stats.snapshot.triton(model: $0.model, version: $0.versionString) })
    }
}
