import Crypto
import Foundation

/// An Ed25519 signature over a version's artifact digest: the 32 bytes of its SHA-256, so a
/// signature made once holds for every copy of the file and checking it needs no second pass
/// over the bytes (the registry checks the digest itself whenever it hands the file out).
public struct ArtifactSignature: Sendable, Codable, Equatable {
    /// Which key signed (``Ed25519Keys/keyID(_:)`` of its public key).
    public var keyID: String
    /// The signature, base64.
    public var signature: String

    public init(keyID: String, signature: String) {
        self.keyID = keyID
        self.signature = signature
    }

    /// Signs the artifact whose SHA-256 (lower-case hex) is `sha256`.
    public static func sign(sha256: String, with key: Curve25519.Signing.PrivateKey) throws -> ArtifactSignature {
        let sig = try key.signature(for: try digestBytes(sha256))
        return ArtifactSignature(keyID: Ed25519Keys.keyID(key.publicKey), signature: sig.base64EncodedString())
    }

    /// Whether this signature is `key`'s over `sha256`.
    public func isValid(sha256: String, key: Curve25519.Signing.PublicKey) -> Bool {
        guard let sig = Data(base64Encoded: signature), let digest = try? Self.digestBytes(sha256) else { return false }
        return key.isValidSignature(sig, for: digest)
    }

    /// Parses the `KEYID:BASE64` text form (the CLI's `--signature` and the API's `signature=`).
    public init(text: String) throws {
        let parts = text.split(separator: ":", maxSplits: 1)
        guard parts.count == 2, parts[0].count == 16, Data(base64Encoded: String(parts[1]))?.count == 64 else {
            throw RegistryError.badInput("a signature is KEYID:BASE64 as 'berth registry sign' prints it")
        }
        self.init(keyID: String(parts[0]), signature: String(parts[1]))
    }

    /// The `KEYID:BASE64` text form.
    public var text: String { "\(keyID):\(signature)" }

    static func digestBytes(_ hex: String) throws -> Data {
        let u = Array(hex.utf8)
        guard u.count == 64 else { throw RegistryError.badInput("not a SHA-256 digest: '\(hex)'") }
        var out = Data(capacity: 32)
        var i = 0
        while i < 64 {
            guard let b = UInt8(String(decoding: u[i..<i + 2], as: UTF8.self), radix: 16) else {
                throw RegistryError.badInput("not a SHA-256 digest: '\(hex)'")
            }
            out.append(b)
            i += 2
        }
        return out
    }

    enum CodingKeys: String, CodingKey {
        case signature
        case keyID = "key_id"
    }
}

/// The public keys a server trusts (`berth serve --require-signed --trusted-key FILE`): a version
/// is served, and may be pushed, only with a valid signature by one of them.
public struct ArtifactTrust: Sendable {
    private let keys: [String: Curve25519.Signing.PublicKey]

    /// Trust in `keys`.
    public init(keys: [Curve25519.Signing.PublicKey]) {
        var map: [String: Curve25519.Signing.PublicKey] = [:]
        for k in keys { map[Ed25519Keys.keyID(k)] = k }
        self.keys = map
    }

    /// Throws ``RegistryError/untrusted(model:version:reason:)`` unless `record` carries a valid
    /// signature by a trusted key over its digest.
    public func check(_ record: VersionRecord) throws {
        try check(model: record.model, version: record.version, sha256: record.sha256, signature: record.artifactSignature)
    }

    /// The same check for a version about to be recorded.
    public func check(model: String, version: Int?, sha256: String, signature: ArtifactSignature?) throws {
        func refuse(_ why: String) -> RegistryError { .untrusted(model: model, version: version, reason: why) }
        guard let signature else { throw refuse("it is not signed, and this server requires signed artifacts (berth registry sign)") }
        guard let key = keys[signature.keyID] else { throw refuse("it is signed by key \(signature.keyID), which this server does not trust") }
        guard signature.isValid(sha256: sha256, key: key) else {
            throw refuse("its signature by key \(signature.keyID) does not match the artifact's digest (tampered or re-signed?)")
        }
    }
}
