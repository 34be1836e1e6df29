import BerthRegistry

/// Who is calling: the key's tenant, role and model scope, as the auth hook established it.
public struct Principal: Sendable, Equatable {
    /// The key's id (never the key); nil for an open server.
    public var keyID: String?
    /// The tenant the key acts for; nil for an open server.
    public var tenant: String?
    public var role: Role
    /// The models the key may touch.
    public var models: ModelPattern

    public init(keyID: String?, tenant: String?, role: Role, models: ModelPattern) {
        self.keyID = keyID
        self.tenant = tenant
        self.role = role
        self.models = models
    }

    /// A key's principal.
    public init(_ key: APIKeyRecord) {
        self.init(keyID: key.id, tenant: key.tenant, role: key.role, models: key.models)
    }

    /// Everyone, everything: `--insecure-no-auth`.
    public static let open = Principal(keyID: nil, tenant: nil, role: .admin, models: .all)

    /// Nobody: what a request context holds until the auth hook ran (fails closed).
    public static let nobody = Principal(keyID: nil, tenant: nil, role: .viewer, models: try! ModelPattern("-"))

    /// Whether the caller may see `model`, owned by `owner` (nil: a model without owner, such as a
    /// repository's, which every tenant whose scope names it sees). Admins see every model.
    public func maySee(model: String, owner: String?) -> Bool {
        if self == .nobody { return false }
        if role == .admin { return true }
        guard models.matches(model) else { return false }
        return owner == nil || owner == tenant
    }
}
