import Foundation

/// Where a registry keeps its artifacts: what the registries and the server need of a store.
/// ``ArtifactStore`` (a content-addressed directory, shared by replicas on a shared file system)
/// is the one implementation; an S3-compatible store can follow by staging to local files as
/// this one does, uploading at ``commit(_:)`` and caching downloads for ``verifiedURL(sha256:size:)``.
public protocol ArtifactStorage: Sendable {
    /// A writer for a new staged (temporary, local) file.
    func makeWriter() throws -> ArtifactWriter
    /// Copies `source` into staging, hashing it on the way.
    func stage(copying source: URL) throws -> StagedArtifact
    /// Moves a staged file into the store (the same bytes already stored is fine).
    @discardableResult
    func commit(_ staged: StagedArtifact) throws -> URL
    /// Runs `body` on the staged file's plain bytes.
    func withPlaintext<T>(of staged: StagedArtifact, _ body: (URL) throws -> T) throws -> T
    /// Deletes a staged file that will not be committed.
    func discard(_ staged: StagedArtifact)
    /// Where the stored artifact with this digest is read from locally.
    func url(sha256: String) -> URL
    /// A local file with the artifact's bytes, checked against the recorded size and SHA-256;
    /// hand it back with ``release(_:)`` once read.
    func verifiedURL(sha256: String, size: Int64) throws -> URL
    /// Gives back a file ``verifiedURL(sha256:size:)`` returned.
    func release(_ url: URL)
    /// The digests of every stored artifact.
    func storedDigests() -> Set<String>
    /// Removes a stored artifact.
    func remove(sha256: String)
    /// Removes staged files of writers that no longer run.
    func removeAbandonedTemporaries()
}

extension ArtifactStore: ArtifactStorage {}
