import Foundation

/// One line of the audit log: an admin action or a key's management, who did it (tenant and key
/// id, never the key) and how it ended. The log is append-only in the database.
public struct AuditEntry: Sendable, Codable, Equatable {
    public var at: Date
    /// The acting key's id; nil for the CLI on the data directory or an unauthenticated server.
    public var keyID: String?
    public var tenant: String?
    public var role: Role?
    /// What was done: `METHOD /route/{pattern}` for the API, `keys create` … for the CLI.
    public var action: String
    /// The model (or key id, tenant) acted on, if any.
    public var target: String?
    /// The HTTP status (CLI: 0 success, 2 refused).
    public var status: Int
    /// The client address or `cli`.
    public var source: String

    public init(at: Date = Date(), keyID: String?, tenant: String?, role: Role?, action: String, target: String?,
                status: Int, source: String) {
        self.at = at
        self.keyID = keyID
        self.tenant = tenant
        self.role = role
        self.action = action
        self.target = target
        self.status = status
        self.source = source
    }

    enum CodingKeys: String, CodingKey {
        case at, tenant, role, action, target, status, source
        case keyID = "key_id"
    }
}
