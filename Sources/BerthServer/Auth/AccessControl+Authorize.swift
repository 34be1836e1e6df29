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
        if let model, !maySee(principal, model: model) { throw hidden(model) }
        return principal
    }
}
