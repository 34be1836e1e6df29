import BerthRegistry
import HTTPTypes

/// The one table that says what every route needs, keyed by method and the route pattern the
/// router matched (so `/v2/models/x/infer/`, `%78` or a HEAD request are judged as the route they
/// reach, never by string games on the raw path). A route missing here needs `admin`: new routes
/// fail closed until they are classified.
enum RoutePermissions {
    static let table: [String: Permission] = {
        var t: [String: Permission] = [:]
        func add(_ p: Permission, _ routes: String...) { for r in routes { t[r] = p } }
        add(.anonymous, "GET /v2/health/live", "GET /v2/health/ready")
        add(.admin, "GET /api/v1/cluster")  // the replicas sharing the registry (addresses, what they serve)
        add(.read,
            "GET /v2", "GET /v2/models/stats",
            "GET /v2/models/{model}", "GET /v2/models/{model}/versions/{version}",
            "GET /v2/models/{model}/ready", "GET /v2/models/{model}/versions/{version}/ready",
            "GET /v2/models/{model}/config", "GET /v2/models/{model}/versions/{version}/config",
            "GET /v2/models/{model}/stats", "GET /v2/models/{model}/versions/{version}/stats",
            "POST /v2/repository/index",
            "GET /metrics", "GET /dashboard", "GET /dashboard/charts.js", "GET /api/v1/dashboard",
            "GET /api/v1/openapi.json", "GET /api/v1/models", "GET /api/v1/models/{name}",
            "GET /api/v1/models/{name}/versions", "GET /api/v1/models/{name}/versions/{ref}",
            "GET /api/v1/models/{name}/history", "GET /api/v1/models/{name}/traffic",
            "GET /api/v1/models/{name}/performance", "GET /api/v1/models/{name}/drift",
            "GET /api/v1/models/{name}/versions/{ref}/reference", "GET /api/v1/alerts", "GET /v2/logging", "GET /v2/trace/setting")
        add(.infer,
            "POST /v2/models/{model}/infer", "POST /v2/models/{model}/versions/{version}/infer",
            "POST /api/v1/models/{name}/feedback")
        // The OpenAI-compatible API of language models (OpenAI/OpenAIRoutes.swift).
        add(.read, "GET /v1/models")
        add(.infer, "POST /v1/completions", "POST /v1/chat/completions", "POST /tokenize", "POST /detokenize")
        add(.infer, "POST /v1/embeddings")
        add(.deploy,
            "POST /api/v1/models/{name}/versions", "DELETE /api/v1/models/{name}/versions/{ref}",
            "GET /api/v1/models/{name}/versions/{ref}/artifact",
            "PUT /api/v1/models/{name}/aliases/{alias}", "DELETE /api/v1/models/{name}/aliases/{alias}",
            "POST /api/v1/models/{name}/promote", "POST /api/v1/models/{name}/rollback",
            "PUT /api/v1/models/{name}/traffic", "PUT /api/v1/models/{name}/versions/{ref}/reference")
        add(.admin,
            "POST /v2/repository/models/{model}/load", "POST /v2/repository/models/{model}/unload",
            "PUT /api/v1/models/{name}/tenant", "POST /v2/logging", "POST /v2/trace/setting")
        return t
    }()

    /// What `method` on the matched `route` needs; HEAD is judged as GET.
    static func permission(method: HTTPRequest.Method, route: String) -> Permission {
        let m = method == .head ? "GET" : method.rawValue
        return table["\(m) \(route)"] ?? .admin
    }

    /// Whether a route changes state, so its use belongs in the audit log.
    static func isAdminAction(_ permission: Permission) -> Bool {
        permission == .deploy || permission == .admin
    }
}
