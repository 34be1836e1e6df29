import Crypto
import Foundation

/// Reads encrypted artifacts (``ArtifactCipher``) back: chunk by chunk into a private file,
/// hashing the plaintext, so a wrong key, a tampered chunk, a truncation or a digest mismatch
/// fails before anything loads it.
enum ArtifactDecryption {
    /// In the names of decrypted copies, so ``ArtifactStore/release(_:)`` deletes only those.
    static let marker = "-decrypted-"

    static func isEncrypted(_ file: URL) throws -> Bool {
        guard let h = try? FileHandle(forReadingFrom: file) else { throw RegistryError.storage("cannot open \(file.path)") }
        defer { try? h.close() }
        return (try? h.read(upToCount: 8)).map { Array($0) == ArtifactCipher.magic } ?? false
    }

    static func decrypt(_ file: URL, cipher: ArtifactCipher?, into tmp: URL, sha256: String, size: Int64) throws -> URL {
        guard let cipher else {
            throw RegistryError.storage("artifact \(sha256) is encrypted: give the key (--artifact-key FILE or BERTH_ARTIFACT_KEY)")
        }
        guard let input = try? FileHandle(forReadingFrom: file) else { throw RegistryError.storage("cannot open \(file.path)") }
        defer { try? input.close() }
        func read(_ n: Int) throws -> Data {
            let d = (try? input.read(upToCount: n)) ?? Data()
            guard d.count == n else { throw RegistryError.storage("artifact \(sha256) is truncated") }
            return d
        }
        let header = try read(16)
        guard Array(header.suffix(8)) == cipher.keyID else {
            throw RegistryError.storage("artifact \(sha256) was encrypted with another key (this key's id is \(cipher.id))")
        }
        let out = tmp.appendingPathComponent("\(getpid())\(marker)\(UUID().uuidString).onnx")
        guard FileManager.default.createFile(atPath: out.path, contents: nil, attributes: [.posixPermissions: 0o600]),
              let output = try? FileHandle(forWritingTo: out) else { throw RegistryError.storage("cannot create \(out.path)") }
        var hasher = SHA256()
        var total: Int64 = 0
        do {
            defer { try? output.close() }
            var index: UInt64 = 0
            var done = false
            while !done {
                let lengthBytes = try read(4)
                let length = Int(lengthBytes.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }.bigEndian)
                guard length <= ArtifactCipher.chunkSize else { throw RegistryError.storage("artifact \(sha256) has a chunk of \(length) bytes") }
                let nonce = try read(12), body = try read(length), tag = try read(16)
                // The last chunk is the one the writer flagged; anything after it is refused.
                let isLast = (try? input.read(upToCount: 1)).map(\.isEmpty) ?? true
                if !isLast { try input.seek(toOffset: try input.offset() - 1) }
                let plain = try cipher.open(nonce: nonce, ciphertext: body, tag: tag, index: index, last: isLast)
                hasher.update(data: plain)
                total += Int64(plain.count)
                try output.write(contentsOf: plain)
                index += 1
                done = isLast
            }
        } catch {
            try? FileManager.default.removeItem(at: out)
            throw error
        }
        let digest = FileDigest.hex(hasher)
        guard digest == sha256, total == size else {
            try? FileManager.default.removeItem(at: out)
            throw RegistryError.storage("artifact \(sha256) is corrupt (\(total) bytes hashing to \(digest), recorded \(size) bytes)")
        }
        return out
    }
}
