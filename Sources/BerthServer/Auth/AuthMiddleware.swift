import BerthRegistry
import HTTPTypes
import Hummingbird

/// The request path's auth hook for REST: the one place that authenticates the caller, checks the
/// route's ``Permission`` against the key's role, hides other tenants' models (404, exactly as an
/// unknown model) and writes admin actions to the audit log — all through
/// ``AccessControl/authorize(authorization:permission:model:hidden:)``, which the gRPC adapter
/// calls too. Routes then read ``BerthRequestContext/principal`` only to filter listings.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = BerthRequestContext
    let access: AccessControl

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        context.access = access
        // nil: no route matched (an unknown path or method): it still needs a key, then 404s.
        let route = context.endpointPath
        var permission = route.map { RoutePermissions.permission(method: request.method, route: $0) } ?? .read
        if route == nil && permission == .anonymous { permission = .read }
        let model = context.parameters.get("model") ?? context.parameters.get("name")
        let audited = RoutePermissions.isAdminAction(permission) && !access.isOpen
        do {
            context.principal = try await access.authorize(
                authorization: request.headers[.authorization], permission: permission, model: model,
                hidden: { route?.hasPrefix("/api/v1") == true ? .registry(.modelNotFound($0)) : .modelNotFound($0) })
        } catch let e as ServerError {
            // Refusals of a known key are audited; anonymous or unknown-key 401s are not: anyone
            // could flood the append-only log with them.
            if audited, e.status != .unauthorized { audit(request, context, nil, route: route, model: model, status: Int(e.status.code)) }
            return ResponseFactory.error(e)
        }
        guard audited else { return try await next(request, context) }
        do {
            let response = try await next(request, context)
            audit(request, context, context.principal, route: route, model: model, status: Int(response.status.code))
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status.code ?? 500
            audit(request, context, context.principal, route: route, model: model, status: Int(status))
            throw error
        }
    }

    private func audit(_ request: Request, _ context: Context, _ p: Principal?, route: String?, model: String?, status: Int) {
        let source = context.remoteAddress?.ipAddress ?? "unknown"
        // A refused caller is audited under the key id it sent (parsed, never the secret).
        let keyID = p?.keyID ?? request.headers[.authorization].flatMap { h in
            h.split(separator: " ").last.flatMap { APIKeySecret(parsing: String($0))?.id }
        }
        access.audit(AuditEntry(keyID: keyID, tenant: p?.tenant, role: p?.role,
                                action: "\(request.method.rawValue) \(route ?? request.uri.path)",
                                target: model, status: status, source: source))
    }
}
