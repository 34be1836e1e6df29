import Crypto
import Foundation

/// SHA-256 as the registry spells it (lower-case hex), and files read in 1 MiB pieces for it.
public enum FileDigest {
    /// Lower-case hex of a finished hash.
    static func hex(_ hasher: SHA256) -> String {
        hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }

    /// Calls `body` with each piece of the file in order.
    static func forEachChunk(of url: URL, _ body: (Data) throws -> Void) throws {
        let input: FileHandle
        do { input = try FileHandle(forReadingFrom: url) } catch {
            throw RegistryError.badInput("cannot read \(url.path): \(error.localizedDescription)")
        }
        defer { try? input.close() }
        while true {
            let chunk: Data
            do { chunk = try input.read(upToCount: 1 << 20) ?? Data() } catch {
                throw RegistryError.badInput("cannot read \(url.path): \(error.localizedDescription)")
            }
            if chunk.isEmpty { return }
            try body(chunk)
        }
    }

    /// The file's SHA-256 and size in bytes.
    public static func sha256(of url: URL) throws -> (sha256: String, size: Int64) {
        var hasher = SHA256()
        var size: Int64 = 0
        try forEachChunk(of: url) { chunk in
            hasher.update(data: chunk)
            size += Int64(chunk.count)
        }
        return (hex(hasher), size)
    }
}
