@testable import BerthRegistry
import Foundation
import XCTest

/// The content-addressed store: naming, sharing, verification and cleanup.
final class ArtifactStoreTests: RegistryTestCase {
    private var store: ArtifactStore { registry.store as! ArtifactStore }
    private var tmp: URL { dataDirectory.appendingPathComponent("tmp") }

    func testStageHashesAndCommitMovesIntoPlace() throws {
        let bytes = Data((0..<3000).map { UInt8(truncatingIfNeeded: $0 * 7) })
        let staged = try store.stage(copying: try inputFile(bytes))
        XCTAssertEqual(staged.sha256, sha256Hex(bytes))
        XCTAssertEqual(staged.size, 3000)
        XCTAssertEqual(staged.url.deletingLastPathComponent().standardizedFileURL.path, tmp.standardizedFileURL.path)
        XCTAssertTrue(staged.url.lastPathComponent.hasPrefix("\(getpid())-"), staged.url.lastPathComponent)
        XCTAssertEqual(try Data(contentsOf: staged.url), bytes)

        let target = try store.commit(staged)
        XCTAssertEqual(target.standardizedFileURL.path, expectedArtifactPath(sha256Hex(bytes)).standardizedFileURL.path)
        XCTAssertEqual(try Data(contentsOf: target), bytes)
        XCTAssertFalse(FileManager.default.fileExists(atPath: staged.url.path))
        XCTAssertEqual(files(under: "tmp"), [])
        XCTAssertEqual(store.storedDigests(), [sha256Hex(bytes)])
    }

    func testEmptyFileHashesToTheEmptyDigest() throws {
        let staged = try store.stage(copying: try inputFile(Data()))
        XCTAssertEqual(staged.sha256, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(staged.size, 0)
        store.discard(staged)
        XCTAssertEqual(files(under: "tmp"), [])
    }

    func testWriterAbandonRemovesTheFile() throws {
        let writer = try store.makeWriter()
        try Data([1, 2, 3]).withUnsafeBytes { try writer.write($0) }
        XCTAssertTrue(FileManager.default.fileExists(atPath: writer.url.path))
        writer.abandon()
        XCTAssertFalse(FileManager.default.fileExists(atPath: writer.url.path))
        XCTAssertEqual(files(under: "tmp"), [])
    }

    func testSameBytesPushedTwiceShareOneFile() throws {
        let bytes = TestModels.bytes()
        let v1 = try push("digits", bytes)
        let v2 = try push("digits", bytes)
        XCTAssertEqual(v1.version, 1)
        XCTAssertEqual(v2.version, 2)
        XCTAssertEqual(v1.sha256, sha256Hex(bytes))
        XCTAssertEqual(v2.sha256, sha256Hex(bytes))
        XCTAssertEqual(files(under: "artifacts"), ["artifacts/sha256/\(v1.sha256.prefix(2))/\(v1.sha256).onnx"])
        XCTAssertEqual(files(under: "tmp"), [])

        // Across models too.
        let v3 = try push("iris", bytes)
        XCTAssertEqual(v3.sha256, v1.sha256)
        XCTAssertEqual(files(under: "artifacts").count, 1)
    }

    func testSharedFileStaysUntilTheLastVersionUsingItIsDeleted() throws {
        let bytes = TestModels.bytes()
        try push("digits", bytes)
        try push("iris", bytes)
        let path = expectedArtifactPath(sha256Hex(bytes)).path
        try registry.deleteVersion("digits", 1, change: Change(actor: "ana"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: path))
        XCTAssertEqual(try Data(contentsOf: try registry.artifact("iris", .number(1)).url), bytes)
        try registry.deleteVersion("iris", 1, change: Change(actor: "ana"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
        XCTAssertEqual(files(under: "artifacts"), [])
    }

    func testDistinctBytesGetDistinctFiles() throws {
        let a = TestModels.bytes(producer: "a")
        let b = TestModels.bytes(producer: "b")
        XCTAssertNotEqual(sha256Hex(a), sha256Hex(b))
        try push("digits", a)
        try push("digits", b)
        XCTAssertEqual(store.storedDigests(), [sha256Hex(a), sha256Hex(b)])
    }

    // MARK: Verification

    func testVerifiedURLAcceptsAnIntactArtifact() throws {
        let bytes = TestModels.bytes()
        let v = try push("digits", bytes)
        let url = try store.verifiedURL(sha256: v.sha256, size: v.size)
        XCTAssertEqual(try Data(contentsOf: url), bytes)
    }

    func testVerifiedURLDetectsAFlippedByte() throws {
        let bytes = TestModels.bytes()
        let v = try push("digits", bytes)
        var corrupt = bytes
        corrupt[corrupt.count / 2] ^= 0x01
        try corrupt.write(to: expectedArtifactPath(v.sha256))
        guard case .storage? = registryError({ try store.verifiedURL(sha256: v.sha256, size: v.size) }) else {
            return XCTFail("a flipped byte must be refused")
        }
        guard case let .corruptArtifact(model, version, _)? = registryError({ try registry.artifact("digits", .number(1)) }) else {
            return XCTFail("artifact() must report corruptArtifact")
        }
        XCTAssertEqual(model, "digits")
        XCTAssertEqual(version, 1)
    }

    func testVerifiedURLDetectsATruncatedFile() throws {
        let bytes = TestModels.bytes()
        let v = try push("digits", bytes)
        try bytes.prefix(bytes.count - 1).write(to: expectedArtifactPath(v.sha256))
        guard case .storage? = registryError({ try store.verifiedURL(sha256: v.sha256, size: v.size) }) else {
            return XCTFail("a truncated file must be refused")
        }
        guard case .corruptArtifact(model: "digits", version: 1, _)? = registryError({ try registry.artifact("digits", .number(1)) }) else {
            return XCTFail("artifact() must report corruptArtifact")
        }
    }

    func testVerifiedURLDetectsAMissingFile() throws {
        let v = try push("digits")
        try FileManager.default.removeItem(at: expectedArtifactPath(v.sha256))
        guard case .storage? = registryError({ try store.verifiedURL(sha256: v.sha256, size: v.size) }) else {
            return XCTFail("a missing file must be refused")
        }
        guard case .corruptArtifact(model: "digits", version: 1, _)? = registryError({ try registry.artifact("digits", .number(1)) }) else {
            return XCTFail("artifact() must report corruptArtifact")
        }
    }

    func testVerifiedURLChecksTheRecordedSize() throws {
        let bytes = TestModels.bytes()
        let v = try push("digits", bytes)
        guard case .storage? = registryError({ try store.verifiedURL(sha256: v.sha256, size: v.size + 1) }) else {
            return XCTFail("a size mismatch must be refused")
        }
    }

    // MARK: Cleanup

    private func temporary(pid: Int32) throws -> URL {
        let url = tmp.appendingPathComponent("\(pid)-\(UUID().uuidString).part")
        try Data("partial upload".utf8).write(to: url)
        return url
    }

    func testRemoveAbandonedTemporariesKeepsLiveWritersOnly() throws {
        let deadPID: Int32 = 999_999
        XCTAssertNotEqual(kill(deadPID, 0), 0, "pid \(deadPID) must not exist for this test")
        let mine = try temporary(pid: getpid())
        let parent = try temporary(pid: getppid())
        let dead = try temporary(pid: deadPID)
        let nameless = tmp.appendingPathComponent("stray.part")
        try Data("x".utf8).write(to: nameless)

        store.removeAbandonedTemporaries()
        let fm = FileManager.default
        XCTAssertTrue(fm.fileExists(atPath: mine.path))
        XCTAssertTrue(fm.fileExists(atPath: parent.path))
        XCTAssertFalse(fm.fileExists(atPath: dead.path))
        XCTAssertFalse(fm.fileExists(atPath: nameless.path))
        XCTAssertEqual(files(under: "tmp").sorted(), ["tmp/" + mine.lastPathComponent, "tmp/" + parent.lastPathComponent].sorted())
    }

    func testOpeningRemovesDeadTemporariesAndUnreferencedArtifacts() throws {
        let bytes = TestModels.bytes()
        let v = try push("digits", bytes)
        // An artifact no version references, as a push killed after the rename leaves.
        let orphanBytes = TestModels.bytes(producer: "orphan")
        let orphan = expectedArtifactPath(sha256Hex(orphanBytes))
        try FileManager.default.createDirectory(at: orphan.deletingLastPathComponent(), withIntermediateDirectories: true)
        try orphanBytes.write(to: orphan)
        let dead = try temporary(pid: 999_999)
        let live = try temporary(pid: getpid())
        XCTAssertEqual(files(under: "artifacts").count, 2)

        registry = nil
        registry = try openRegistry()

        let fm = FileManager.default
        XCTAssertFalse(fm.fileExists(atPath: orphan.path))
        XCTAssertTrue(fm.fileExists(atPath: expectedArtifactPath(v.sha256).path))
        XCTAssertEqual(files(under: "artifacts"), ["artifacts/sha256/\(v.sha256.prefix(2))/\(v.sha256).onnx"])
        XCTAssertFalse(fm.fileExists(atPath: dead.path))
        XCTAssertTrue(fm.fileExists(atPath: live.path))
        XCTAssertEqual(try Data(contentsOf: try registry.artifact("digits", .number(1)).url), bytes)
    }

    func testOpeningKeepsArtifactsOfEveryVersion() throws {
        let a = TestModels.bytes(producer: "a")
        let b = TestModels.bytes(producer: "b")
        try push("digits", a)
        try push("iris", b)
        registry = nil
        registry = try openRegistry()
        XCTAssertEqual(store.storedDigests(), [sha256Hex(a), sha256Hex(b)])
    }
}
