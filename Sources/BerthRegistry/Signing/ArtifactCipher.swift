import Crypto
import Foundation

/// Encryption of artifacts at rest with AES-256-GCM (`--artifact-key FILE` or
/// `$BERTH_ARTIFACT_KEY`). A file is the magic `BERTHAE1`, the key's 8-byte id, then chunks of at
/// most 1 MiB of plaintext, each `length (UInt32 BE) · nonce · ciphertext · tag`, authenticated
/// with its index and whether it is the last, so chunks cannot be reordered, dropped or cut off.
/// The store still addresses files by the SHA-256 of the plaintext, which every read verifies.
public struct ArtifactCipher: Sendable {
    let key: SymmetricKey
    /// The first 8 bytes of SHA-256(key), stored in each file so a wrong key is named as such.
    let keyID: [UInt8]

    static let magic = Array("BERTHAE1".utf8)
    static let chunkSize = 1 << 20

    /// A cipher from 32 key bytes.
    public init(keyBytes: [UInt8]) throws {
        guard keyBytes.count == 32 else { throw RegistryError.badInput("an artifact key is 32 bytes (AES-256), got \(keyBytes.count)") }
        key = SymmetricKey(data: keyBytes)
        keyID = Array(SHA256.hash(data: keyBytes).prefix(8))
    }

    /// A key from text as written to a key file or the environment: 32 raw bytes, or their
    /// base64 or hex spelling (`openssl rand -base64 32`).
    public init(text data: Data) throws {
        if data.count == 32 { try self.init(keyBytes: Array(data)); return }
        let s = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if let d = Data(base64Encoded: s), d.count == 32 { try self.init(keyBytes: Array(d)); return }
        if s.count == 64, let bytes = Self.hex(s) { try self.init(keyBytes: bytes); return }
        throw RegistryError.badInput("an artifact key is 32 bytes: raw, base64 (openssl rand -base64 32) or 64 hex digits")
    }

    /// The key id, hex (shown in errors).
    public var id: String { keyID.map { String(format: "%02x", $0) }.joined() }

    func seal(_ chunk: Data, index: UInt64, last: Bool) throws -> Data {
        let box = try AES.GCM.seal(chunk, using: key, authenticating: Self.aad(index, last))
        var out = Data()
        var n = UInt32(chunk.count).bigEndian
        withUnsafeBytes(of: &n) { out.append(contentsOf: $0) }
        out.append(contentsOf: box.nonce)
        out.append(box.ciphertext)
        out.append(box.tag)
        return out
    }

    func open(nonce: Data, ciphertext: Data, tag: Data, index: UInt64, last: Bool) throws -> Data {
        do {
            let box = try AES.GCM.SealedBox(nonce: AES.GCM.Nonce(data: nonce), ciphertext: ciphertext, tag: tag)
            return try AES.GCM.open(box, using: key, authenticating: Self.aad(index, last))
        } catch {
            throw RegistryError.storage("an encrypted artifact failed authentication at chunk \(index) (tampered, or another key)")
        }
    }

    static func aad(_ index: UInt64, _ last: Bool) -> Data {
        var i = index.bigEndian
        var d = Data(bytes: &i, count: 8)
        d.append(last ? 1 : 0)
        return d
    }

    static func hex(_ s: String) -> [UInt8]? {
        var out: [UInt8] = []
        var it = s.makeIterator()
        while let a = it.next(), let b = it.next() {
            guard let v = UInt8(String([a, b]), radix: 16) else { return nil }
            out.append(v)
        }
        return out
    }
}

/// Writes an encrypted artifact chunk by chunk (``ArtifactWriter`` with a cipher).
struct EncryptingSink {
    let cipher: ArtifactCipher
    var pending = Data()
    var index: UInt64 = 0

    /// The file header.
    var header: Data { Data(ArtifactCipher.magic + cipher.keyID) }

    /// Sealed chunks ready to write after appending `bytes` (never the last one).
    mutating func append(_ bytes: UnsafeRawBufferPointer) throws -> Data {
        pending.append(contentsOf: bytes)
        var out = Data()
        // Keep at least one byte back so the final chunk is sealed by finish() with its flag.
        while pending.count > ArtifactCipher.chunkSize {
            out.append(try cipher.seal(pending.prefix(ArtifactCipher.chunkSize), index: index, last: false))
            pending.removeFirst(ArtifactCipher.chunkSize)
            index += 1
        }
        return out
    }

    /// The last chunk (possibly empty).
    mutating func finish() throws -> Data { try cipher.seal(pending, index: index, last: true) }
}
