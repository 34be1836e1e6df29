/// Triton's model repository extension without its wire format: the index, and explicit loads and
/// unloads with the mode checks. The REST routes and the gRPC adapter both call it, so they refuse
/// the same requests with the same messages.
struct RepositoryControl: Sendable {
    let manager: ModelManager
    let configuration: ServerConfiguration
    /// Carries out explicit loads and unloads; nil when a registry deploys the models.
    let source: RepositorySource?

    init(manager: ModelManager, configuration: ServerConfiguration) {
        self.manager = manager
        self.configuration = configuration
        // Explicit control only: the poller's file-watching state lives in ModelLoaderService's source.
        source = manager.repository.map { RepositorySource(repository: $0, manager: manager) }
    }

    /// The index rows, only ready versions when `readyOnly`.
    func index(readyOnly: Bool) -> [ModelIndexEntry] {
        manager.index().filter { !readyOnly || $0.state == .ready }
    }

    /// Loads or unloads `model`. `parameterNames` are the request's parameter keys: Berth refuses
    /// the config and file overrides.
    func change(model: String, load: Bool, parameterNames: [String]) async throws {
        guard let source else {
            throw ServerError.notAllowed("models are deployed from the registry: alias or promote a version "
                                         + "through /api/v1 (or berth registry) instead of loading it")
        }
        guard configuration.modelControl == .explicit else {
            throw ServerError.notAllowed("explicit model \(load ? "load" : "unload") is not allowed with --model-control "
                                         + "\(configuration.modelControl.rawValue) (use --model-control explicit)")
        }
        if parameterNames.contains(where: { $0 == "config" || $0.hasPrefix("file:") }) {
            throw ServerError.badRequest("overriding a model's config or files through the load request is not supported")
        }
        if load { try await source.load(model) } else { try await source.unload(model) }
    }
}
