import Foundation

/// A `postgres://user:password@host:port/database` address (`postgresql://` too), as given to
/// `--registry-url`. Only what Berth uses: no query parameters, no TLS (loopback or a private
/// network; put a TLS-terminating proxy in between otherwise).
public struct PostgresURL: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String

    /// Parses `text`; throws ``RegistryError/badInput(_:)`` naming what is wrong.
    public init(_ text: String) throws {
        guard let c = URLComponents(string: text), let scheme = c.scheme, ["postgres", "postgresql"].contains(scheme.lowercased()) else {
            throw RegistryError.badInput("a registry URL looks like postgres://user:password@host:5432/database, got '\(Self.redacted(text))'")
        }
        guard let host = c.host, !host.isEmpty else { throw RegistryError.badInput("the registry URL names no host") }
        guard let user = c.user, !user.isEmpty else { throw RegistryError.badInput("the registry URL names no user") }
        let db = String(c.path.drop(while: { $0 == "/" }))
        guard !db.isEmpty, !db.contains("/") else { throw RegistryError.badInput("the registry URL names no database (…/DATABASE)") }
        if let p = c.port, !(1...65535).contains(p) { throw RegistryError.badInput("the registry URL's port must be 1...65535") }
        self.host = host
        self.port = c.port ?? 5432
        self.user = user.removingPercentEncoding ?? user
        self.password = c.password.map { $0.removingPercentEncoding ?? $0 }
        self.database = db.removingPercentEncoding ?? db
    }

    /// The address without the password (for logs and errors).
    public var description: String { "postgres://\(user)@\(host):\(port)/\(database)" }

    /// `text` with anything between `:` and `@` after the scheme hidden.
    static func redacted(_ text: String) -> String {
        guard let at = text.lastIndex(of: "@"), let scheme = text.range(of: "://"),
              let colon = text[scheme.upperBound..<at].firstIndex(of: ":") else { return text }
        return String(text[..<colon]) + ":***" + String(text[at...])
    }
}
