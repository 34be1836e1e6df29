/// What a key may do. Roles are ordered: each one includes everything the ones below it may do
/// (`viewer` < `invoker` < `deployer` < `admin`), so a deployer can also infer and read.
public enum Role: String, Sendable, Codable, CaseIterable, Comparable {
    /// Metadata, statistics, metrics, drift, performance, the dashboard.
    case viewer
    /// Inference and feedback, plus what a viewer may do.
    case invoker
    /// Push, promote, roll back, aliases, traffic, reference data, version deletion, plus the above.
    case deployer
    /// Everything, across tenants: keys, quotas, model ownership, repository load/unload.
    case admin

    private var rank: Int {
        switch self {
        case .viewer: return 0
        case .invoker: return 1
        case .deployer: return 2
        case .admin: return 3
        }
    }

    public static func < (a: Role, b: Role) -> Bool { a.rank < b.rank }

    /// Whether this role may do what `permission` guards.
    public func allows(_ permission: Permission) -> Bool { self >= permission.minimumRole }
}

/// What a route or RPC needs. The server maps every route to one permission in one table.
public enum Permission: String, Sendable, CaseIterable {
    /// Health probes: no key needed.
    case anonymous
    /// Reads: metadata, readiness, statistics, metrics, drift, performance, dashboard, listings.
    case read
    /// Inference and feedback.
    case infer
    /// Changes to a model's versions and traffic.
    case deploy
    /// Server-wide control: keys, quotas, ownership, repository load/unload, unknown routes.
    case admin

    /// The least role that has this permission (nil: none needed).
    public var minimumRole: Role {
        switch self {
        case .anonymous, .read: return .viewer
        case .infer: return .invoker
        case .deploy: return .deployer
        case .admin: return .admin
        }
    }
}
