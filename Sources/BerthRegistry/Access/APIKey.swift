import Crypto
import Foundation

/// A stored API key: everything but the secret, which is kept only as a SHA-256 hash.
public struct APIKeyRecord: Sendable, Codable, Equatable {
    /// The public identifier, also embedded in the key (`brt_ID_SECRET`); `berth keys revoke ID`.
    public var id: String
    /// The tenant the key acts for.
    public var tenant: String
    /// What the key may do.
    public var role: Role
    /// The models it may touch.
    public var models: ModelPattern
    /// Free text (who holds it, what for).
    public var description: String
    public var createdAt: Date
    /// After this moment the key is refused; nil: never expires.
    public var expiresAt: Date?
    /// When it was revoked; nil: live.
    public var revokedAt: Date?

    /// Whether the key may be used at `now`.
    public func isUsable(at now: Date = Date()) -> Bool {
        revokedAt == nil && (expiresAt.map { now < $0 } ?? true)
    }
}

/// The secret form of a key, `brt_<12 hex id>_<64 hex secret>`: 256 random bits, so hashing it
/// once with SHA-256 is enough (no password stretching needed for a random secret).
public struct APIKeySecret: Sendable, Equatable {
    /// The whole key as the client sends it.
    public let text: String
    /// The id part.
    public let id: String

    static let prefix = "brt_"

    /// A new random key.
    public static func generate() -> APIKeySecret {
        func hex(_ n: Int) -> String {
            var g = SystemRandomNumberGenerator()
            return (0..<n).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &g)) }.joined()
        }
        let id = hex(6)
        return APIKeySecret(text: "\(prefix)\(id)_\(hex(32))", id: id)
    }

    private init(text: String, id: String) {
        self.text = text
        self.id = id
    }

    /// Parses a key as sent in `Authorization: Bearer …`; nil when it is not shaped like one.
    public init?(parsing text: String) {
        let u = Array(text.utf8)
        let isHex = { (b: UInt8) in (b >= 0x30 && b <= 0x39) || (b >= 0x61 && b <= 0x66) }
        guard u.count == 4 + 12 + 1 + 64, text.hasPrefix(Self.prefix), u[16] == 0x5F,
              u[4..<16].allSatisfy(isHex), u[17...].allSatisfy(isHex) else { return nil }
        self.text = text
        self.id = String(decoding: u[4..<16], as: UTF8.self)
    }

    /// The SHA-256 of the key, hex: what the database stores.
    public var hash: String { Self.hash(text) }

    static func hash(_ text: String) -> String {
        SHA256.hash(data: Data(text.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}
