import BerthRegistry

extension AccessControl {
    /// The one decision every protocol adapter asks for: authenticates the `Authorization` value,
    /// checks the role against `permission`, then hides a model the caller may not see (the same
    /// ``ServerError/modelNotFound(_:)`` an unknown model gets, so existence is not leaked).
    /// `hidden` builds the not-found error the adapter would give for an unknown `model`.
    public func authorize(authorization: String?, permission: Permission, model: String?,
                          hidden: (String) -> ServerError = { .modelNotFound($0) }) async throws -> Principal {
        if isOpen { return .open }
        if permission == .anonymous { return .nobody }
        let principal: Principal
        switch await authenticate(authorization: authorization) {
        case let .success(p): principal = p
        case let .failure(f):
            if case .storage = f { throw ServerError.authUnavailable(f.description) }
            throw ServerError.unauthenticated(f.description)
        }
        // The role first: it does not depend on the model, so a 403 says nothing about whether
        // another tenant's model exists (an unknown model gets the same 403).
        guard principal.role.allows(permission) else {
            throw ServerError.forbidden("the key's role '\(principal.role.rawValue)' may not do this (needs \(permission.minimumRole.rawValue))")
        }
        if let model, principal.role != .admin {
            let o = try ownership(of: model)
            if !principal.maySee(model: model, ownership: o) { throw hidden(model) }
            // A model without an owner is everyone's to read, no tenant's to change.
            if o == .unowned, permission == .deploy || permission == .admin {
                throw ServerError.forbidden("model '\(model)' has no owner tenant: an admin assigns one first "
                    + "(berth tenants assign \(model) --tenant T, or PUT /api/v1/models/\(model)/tenant)")
            }
        }
        return principal
    }
}
