import BerthRegistry

/// The JSON bodies of the admin API (docs/registry.md), decoded by ``JSONBody``. Absent optional
/// fields take the documented defaults; unknown fields are ignored.
enum AdminBody {
    /// `PUT …/models/{name}/tenant` (admin): the model's new owner.
    struct SetTenant: Decodable {
        var tenant: String
    }

    /// `PUT …/aliases/{alias}`.
    struct SetAlias: Decodable {
        var version: Int
        var reason: String?
    }

    /// `DELETE …/aliases/{alias}` (the body is optional).
    struct RemoveAlias: Decodable {
        var reason: String?
    }

    /// `POST …/promote`.
    struct Promote: Decodable {
        var version: Int
        /// Expressions such as `accuracy>=0.9`.
        var gates: [String]?
        /// Default `production`.
        var alias: String?
        var reason: String?
    }

    /// `POST …/rollback` (the body is optional).
    struct Rollback: Decodable {
        /// Default `production`.
        var alias: String?
        var reason: String?
    }

    /// `PUT …/traffic`: an absent or null split clears it.
    struct Traffic: Decodable {
        struct Split: Decodable {
            var alias: String
            var percent: Double
        }
        var canary: Split?
        var shadow: Split?
        var reason: String?
    }

    /// The answer of `DELETE …/versions/{version}`.
    struct Deleted: Encodable {
        var deleted: Int
    }
}
