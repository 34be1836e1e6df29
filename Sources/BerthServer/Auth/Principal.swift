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

    /// Whether the caller may see `model` of `ownership`: another tenant's model is invisible; a
    /// model without an owner (a repository's, or one the CLI pushed) is seen by every key whose
    /// scope names it (changing it needs an admin: ``AccessControl/authorize``). Admins see every model.
    public func maySee(model: String, ownership: Ownership) -> Bool {
        if self == .nobody { return false }
        if role == .admin { return true }
        guard models.matches(model) else { return false }
        if case let .tenant(t) = ownership { return t == tenant }
        return true
    }
}

/// Who owns a model, as the access control sees it.
public enum Ownership: Sendable, Equatable {
    /// Not a registry model (a repository's, or a name nobody pushed yet).
    case notInRegistry
    /// A registry model without an owner tenant.
    case unowned
    /// A registry model of this tenant.
    case tenant(String)
}
