import Crypto
import Foundation

/// A model file hashed and written to the store's `tmp/` folder, not yet part of the store.
public struct StagedArtifact: Sendable {
    /// The temporary file.
    public let url: URL
    /// SHA-256 of the bytes, lower-case hex.
    public let sha256: String
    /// Bytes written.
    public let size: Int64
}

/// Writes an artifact into the store's `tmp/` folder while hashing it, in pieces (uploads arrive
/// that way). ``finish()`` flushes it to disk; until then nothing is visible.
public final class ArtifactWriter {
    private let handle: FileHandle
    private var hasher = SHA256()
    private var size: Int64 = 0
    /// Set when the store encrypts: plaintext is hashed, ciphertext written.
    private var sink: EncryptingSink?
    /// The temporary file being written.
    public let url: URL

    init(url: URL, cipher: ArtifactCipher? = nil) throws {
        guard FileManager.default.createFile(atPath: url.path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
            throw RegistryError.storage("cannot create \(url.path)")
        }
        do { handle = try FileHandle(forWritingTo: url) } catch {
            throw RegistryError.storage("cannot open \(url.path): \(error.localizedDescription)")
        }
        self.url = url
        if let cipher {
            sink = EncryptingSink(cipher: cipher)
            try put(sink!.header)
        }
    }

    private func put(_ data: Data) throws {
        guard !data.isEmpty else { return }
        do { try handle.write(contentsOf: data) } catch {
            throw RegistryError.storage("cannot write \(url.path): \(error.localizedDescription)")
        }
    }

    /// Appends bytes.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        hasher.update(bufferPointer: bytes)
        size += Int64(bytes.count)
        if sink != nil { try put(try sink!.append(bytes)) } else { try put(Data(bytes)) }
    }

    /// Flushes the file to disk and returns it as a staged artifact.
    public func finish() throws -> StagedArtifact {
        do {
            if sink != nil { try put(try sink!.finish()) }
            try handle.synchronize()
            try handle.close()
        } catch {
            throw RegistryError.storage("cannot flush \(url.path): \(error.localizedDescription)")
        }
        return StagedArtifact(url: url, sha256: FileDigest.hex(hasher), size: size)
    }

    /// Closes and deletes the temporary file.
    public func abandon() {
        try? handle.close()
        try? FileManager.default.removeItem(at: url)
    }
}

/// Content-addressed model files: `artifacts/sha256/ab/abcdef….onnx`. Files enter through
/// `tmp/` (named after the writing process, so leftovers of dead writers can be recognised) and
/// a rename, so a reader never sees a partial artifact.
public struct ArtifactStore: Sendable {
    /// The data directory.
    public let root: URL
    /// Set with `--artifact-key`: new artifacts are written encrypted, encrypted ones can be read.
    public let cipher: ArtifactCipher?
    var artifactsDirectory: URL { root.appendingPathComponent("artifacts/sha256", isDirectory: true) }
    var temporaryDirectory: URL { root.appendingPathComponent("tmp", isDirectory: true) }
    static let temporarySuffix = ".part"

    /// Opens (creating folders as needed) the store under `root`.
    public init(root: URL, cipher: ArtifactCipher? = nil) throws {
        self.root = root.standardizedFileURL
        self.cipher = cipher
        for dir in [artifactsDirectory, temporaryDirectory] {
            do { try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true) } catch {
                throw RegistryError.storage("cannot create \(dir.path): \(error.localizedDescription)")
            }
        }
    }

    /// Where an artifact with this digest lives.
    public func url(sha256: String) -> URL {
        artifactsDirectory.appendingPathComponent(String(sha256.prefix(2)), isDirectory: true)
            .appendingPathComponent(sha256 + ".onnx")
    }

    /// A writer for a new temporary file.
    public func makeWriter() throws -> ArtifactWriter {
        let name = "\(getpid())-\(UUID().uuidString)\(Self.temporarySuffix)"
        return try ArtifactWriter(url: temporaryDirectory.appendingPathComponent(name), cipher: cipher)
    }

    /// Copies `source` into `tmp/`, hashing it on the way.
    public func stage(copying source: URL) throws -> StagedArtifact {
        let writer = try makeWriter()
        do {
            try FileDigest.forEachChunk(of: source) { chunk in try chunk.withUnsafeBytes { try writer.write($0) } }
            return try writer.finish()
        } catch {
            writer.abandon()
            throw error
        }
    }

    /// Moves a staged file into place (the store already holding the same bytes is fine) and
    /// flushes the directory entry. Returns the artifact's location.
    @discardableResult
    public func commit(_ staged: StagedArtifact) throws -> URL {
        let target = url(sha256: staged.sha256)
        let fm = FileManager.default
        do {
            try fm.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
            if fm.fileExists(atPath: target.path) {
                try fm.removeItem(at: staged.url)
            } else if rename(staged.url.path, target.path) != 0 {
                throw RegistryError.storage("cannot move \(staged.url.path) into the store: \(String(cString: strerror(errno)))")
            }
        } catch let e as RegistryError {
            throw e
        } catch {
            throw RegistryError.storage("cannot store artifact: \(error.localizedDescription)")
        }
        Self.syncDirectory(target.deletingLastPathComponent())
        return target
    }

    /// Runs `body` on the staged file's bytes as a plain file (a decrypted copy, deleted after, when
    /// the store encrypts).
    public func withPlaintext<T>(of staged: StagedArtifact, _ body: (URL) throws -> T) throws -> T {
        guard try ArtifactDecryption.isEncrypted(staged.url) else { return try body(staged.url) }
        let plain = try ArtifactDecryption.decrypt(staged.url, cipher: cipher, into: temporaryDirectory, sha256: staged.sha256, size: staged.size)
        defer { release(plain) }
        return try body(plain)
    }

    /// Deletes a staged file that will not be committed.
    public func discard(_ staged: StagedArtifact) {
        try? FileManager.default.removeItem(at: staged.url)
    }

    /// The artifact's location after checking its size and SHA-256 against the record. An
    /// encrypted artifact is decrypted (and checked) into a private file under `tmp/`: hand it
    /// back with ``release(_:)`` once read.
    public func verifiedURL(sha256: String, size: Int64) throws -> URL {
        let file = url(sha256: sha256)
        guard FileManager.default.fileExists(atPath: file.path) else {
            throw RegistryError.storage("artifact \(sha256) is missing from \(artifactsDirectory.path)")
        }
        if try ArtifactDecryption.isEncrypted(file) {
            return try ArtifactDecryption.decrypt(file, cipher: cipher, into: temporaryDirectory, sha256: sha256, size: size)
        }
        let (digest, seen): (String, Int64)
        do { (digest, seen) = try FileDigest.sha256(of: file) } catch {
            throw RegistryError.storage("artifact \(sha256) cannot be read: \(error)")
        }
        guard seen == size, digest == sha256 else {
            throw RegistryError.storage("artifact \(sha256) is corrupt (\(seen) bytes hashing to \(digest), recorded \(size) bytes)")
        }
        return file
    }

    /// Deletes a decrypted copy ``verifiedURL(sha256:size:)`` made; does nothing for a stored file.
    public func release(_ url: URL) {
        guard url.deletingLastPathComponent().standardizedFileURL.path == temporaryDirectory.standardizedFileURL.path,
              url.lastPathComponent.contains(ArtifactDecryption.marker) else { return }
        try? FileManager.default.removeItem(at: url)
    }

    /// The digests of every artifact file in the store.
    public func storedDigests() -> Set<String> {
        let fm = FileManager.default
        var out = Set<String>()
        for prefix in (try? fm.contentsOfDirectory(atPath: artifactsDirectory.path)) ?? [] {
            let dir = artifactsDirectory.appendingPathComponent(prefix)
            for file in (try? fm.contentsOfDirectory(atPath: dir.path)) ?? [] where file.hasSuffix(".onnx") {
                out.insert(String(file.dropLast(5)))
            }
        }
        return out
    }

    /// Removes an artifact file.
    public func remove(sha256: String) {
        try? FileManager.default.removeItem(at: url(sha256: sha256))
    }

    /// Removes temporary files whose writing process no longer runs (killed mid-push).
    public func removeAbandonedTemporaries() {
        let fm = FileManager.default
        for name in (try? fm.contentsOfDirectory(atPath: temporaryDirectory.path)) ?? [] {
            let pidText = name.split(separator: "-", maxSplits: 1).first.map(String.init) ?? ""
            if let pid = Int32(pidText), pid == getpid() || Self.isRunning(pid) { continue }
            try? fm.removeItem(at: temporaryDirectory.appendingPathComponent(name))
        }
    }

    private static func isRunning(_ pid: Int32) -> Bool {
        kill(pid, 0) == 0 || errno == EPERM
    }

    private static func syncDirectory(_ url: URL) {
        let fd = open(url.path, O_RDONLY)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        close(fd)
    }
}
