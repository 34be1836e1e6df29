import Crypto
import Foundation

/// Reads and writes Ed25519 keys as OpenSSL does (`openssl genpkey -algorithm ed25519`, and
/// `openssl pkey -pubout`): PEM around the fixed PKCS#8 / SubjectPublicKeyInfo DER prefixes, so
/// keys made by either tool work with the other. A file holding only the 32 raw bytes, base64,
/// is read too.
public enum Ed25519Keys {
    /// DER before the 32 key bytes: PKCS#8 `PrivateKeyInfo` for Ed25519 (RFC 8410).
    static let privatePrefix: [UInt8] = [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20]
    /// DER before the 32 key bytes: `SubjectPublicKeyInfo` for Ed25519.
    static let publicPrefix: [UInt8] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]

    /// A private key from PEM (`PRIVATE KEY`) or base64 text.
    public static func privateKey(pem text: String) throws -> Curve25519.Signing.PrivateKey {
        let raw = try keyBytes(text, label: "PRIVATE KEY", prefix: privatePrefix)
        return try Curve25519.Signing.PrivateKey(rawRepresentation: raw)
    }

    /// A public key from PEM (`PUBLIC KEY`) or base64 text.
    public static func publicKey(pem text: String) throws -> Curve25519.Signing.PublicKey {
        let raw = try keyBytes(text, label: "PUBLIC KEY", prefix: publicPrefix)
        return try Curve25519.Signing.PublicKey(rawRepresentation: raw)
    }

    /// PEM of a private key, as OpenSSL writes it.
    public static func pem(_ key: Curve25519.Signing.PrivateKey) -> String {
        pem(privatePrefix + key.rawRepresentation, label: "PRIVATE KEY")
    }

    /// PEM of a public key, as OpenSSL writes it.
    public static func pem(_ key: Curve25519.Signing.PublicKey) -> String {
        pem(publicPrefix + key.rawRepresentation, label: "PUBLIC KEY")
    }

    /// A short, stable name for a public key: the first 16 hex digits of the SHA-256 of its bytes.
    public static func keyID(_ key: Curve25519.Signing.PublicKey) -> String {
        String(SHA256.hash(data: key.rawRepresentation).map { String(format: "%02x", $0) }.joined().prefix(16))
    }

    private static func pem(_ der: [UInt8], label: String) -> String {
        "-----BEGIN \(label)-----\n\(Data(der).base64EncodedString())\n-----END \(label)-----\n"
    }

    private static func keyBytes(_ text: String, label: String, prefix: [UInt8]) throws -> [UInt8] {
        let body = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("-----") }.joined()
        guard let data = Data(base64Encoded: body) else {
            throw RegistryError.badInput("not an Ed25519 \(label.lowercased()): expected PEM ('openssl genpkey -algorithm ed25519') or base64")
        }
        let bytes = [UInt8](data)
        if bytes.count == 32 { return bytes }
        guard bytes.count == prefix.count + 32, Array(bytes.prefix(prefix.count)) == prefix else {
            throw RegistryError.badInput("not an Ed25519 \(label.lowercased()) (another algorithm, or a \(label == "PUBLIC KEY" ? "private" : "public") key?)")
        }
        return Array(bytes.suffix(32))
    }
}
