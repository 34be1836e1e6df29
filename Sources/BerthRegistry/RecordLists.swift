/// The models of a registry: `GET /api/v1/models` and `berth registry list --json`.
public struct ModelList: Codable, Sendable, Equatable {
    /// Every model, by name.
    public var models: [ModelRecord]
    /// Wraps the list.
    public init(models: [ModelRecord]) { self.models = models }
}

/// A model's versions: `GET /api/v1/models/{name}/versions`.
public struct VersionList: Codable, Sendable, Equatable {
    /// Every version, ascending.
    public var versions: [VersionRecord]
    /// Wraps the list.
    public init(versions: [VersionRecord]) { self.versions = versions }
}

/// A model's history: `GET /api/v1/models/{name}/history` and `berth registry history --json`.
public struct EventList: Codable, Sendable, Equatable {
    /// The events, oldest first.
    public var events: [RegistryEvent]
    /// Wraps the list.
    public init(events: [RegistryEvent]) { self.events = events }
}
