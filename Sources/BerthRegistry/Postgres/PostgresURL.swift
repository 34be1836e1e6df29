import Foundation

/// A `postgres://user:password@host:port/database` address (`postgresql://` too), as given to
/// `--registry-url`, with libpq's TLS parameters: `?sslmode=disable|prefer|require|verify-ca|verify-full`
/// and `&sslrootcert=FILE` (PEM certificates the server's chain must end in; default: the system's).
public struct PostgresURL: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String
    /// How the connection is encrypted and the server checked.
    public var sslMode: SSLMode = .disable
    /// The trusted root certificates (PEM file), if not the system's.
    public var sslRootCert: String?

    /// libpq's `sslmode` values.
    public enum SSLMode: String, Sendable, Equatable, CaseIterable {
        /// No TLS (the default: loopback or a private network).
        case disable
        /// TLS when the server offers it, without checking its certificate.
        case prefer
        /// TLS, without checking the certificate (with `sslrootcert`, as `verify-ca`, like libpq).
        case require
        /// TLS with a certificate signed by a trusted root, for any host name.
        case verifyCA = "verify-ca"
        /// TLS with a trusted certificate issued for the host connected to.
        case verifyFull = "verify-full"
    }

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
        for item in c.queryItems ?? [] {
            let value = item.value ?? ""
            switch item.name {
            case "sslmode":
                guard let mode = SSLMode(rawValue: value) else {
                    throw RegistryError.badInput("the registry URL's sslmode must be one of " + SSLMode.allCases.map(\.rawValue).joined(separator: ", ") + ", got '\(value)'")
                }
                sslMode = mode
            case "sslrootcert":
                guard FileManager.default.isReadableFile(atPath: value) else {
                    throw RegistryError.badInput("the registry URL's sslrootcert '\(value)' is not a readable file")
                }
                sslRootCert = value
            default:
                throw RegistryError.badInput("the registry URL's parameter '\(item.name)' is not supported (only sslmode and sslrootcert)")
            }
        }
        if sslRootCert != nil, sslMode == .disable || sslMode == .prefer {
            throw RegistryError.badInput("the registry URL gives sslrootcert but sslmode=\(sslMode.rawValue) checks no certificate (use verify-full)")
        }
    }

    /// The address without the password (for logs and errors).
    public var description: String {
        "postgres://\(user)@\(host):\(port)/\(database)" + (sslMode == .disable ? "" : "?sslmode=\(sslMode.rawValue)")
    }

    /// `text` with anything between `:` and `@` after the scheme hidden.
    static func redacted(_ text: String) -> String {
        guard let at = text.lastIndex(of: "@"), let scheme = text.range(of: "://"),
              let colon = text[scheme.upperBound..<at].firstIndex(of: ":") else { return text }
        return String(text[..<colon]) + ":***" + String(text[at...])
    }
}
