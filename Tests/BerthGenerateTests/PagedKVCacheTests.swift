import XCTest
@testable import BerthGenerate

/// The block pool: tables grow by blocks, release returns them, cached prompt blocks are shared
/// by reference and evicted oldest first when the pool runs dry.
final class PagedKVCacheTests: XCTestCase {
    func cache(blocks: Int) throws -> PagedKVCache {
        // 1 layer, kvDim 2, 4 tokens a block: 1·2·4·2 floats = 64 bytes a block.
        try PagedKVCache(layers: 1, kvDim: 2, blockSize: 4, budgetBytes: blocks * 64)
    }

    func testReserveGrowsByBlocksAndReleaseReturnsThem() throws {
        let c = try cache(blocks: 4)
        XCTAssertEqual(c.blockCount, 4)
        try c.reserve(0, newLength: 5)
        XCTAssertEqual(c.freeBlocks, 2)
        try c.reserve(0, newLength: 8)
        XCTAssertEqual(c.freeBlocks, 2)
        XCTAssertThrowsError(try c.reserve(1, newLength: 12))  // needs 3, 2 free: nothing taken
        XCTAssertEqual(c.freeBlocks, 2)
        c.release(0)
        XCTAssertEqual(c.freeBlocks, 4)
        XCTAssertThrowsError(try PagedKVCache(layers: 1, kvDim: 2, blockSize: 4, budgetBytes: 63))
    }

    func testSharedPrefixBlocksAreRefcountedAndEvictedOldestFirst() throws {
        let c = try cache(blocks: 4)
        let a = Array(0..<8), b = Array(100..<108)
        let ha = c.blockHashes(a), hb = c.blockHashes(b)
        XCTAssertEqual(ha.count, 2)
        XCTAssertNotEqual(ha, hb)
        XCTAssertEqual(c.blockHashes(Array(0..<4) + [9, 9, 9, 9])[0], ha[0])  // same first block, same key
        XCTAssertNotEqual(c.blockHashes(Array(0..<4) + [9, 9, 9, 9])[1], ha[1])  // the key includes the parent
        // Sequence 0 computes prompt a and publishes its two blocks.
        try c.reserve(0, newLength: 8)
        for i in 0..<2 { c.register(0, blockIndex: i, hash: ha[i]) }
        // Sequence 1 shares them while 0 still runs.
        XCTAssertEqual(c.adoptPrefix(1, hashes: ha), 8)
        c.release(0)
        XCTAssertEqual(c.freeBlocks, 2)  // still held by 1
        c.release(1)
        XCTAssertEqual(c.freeBlocks, 4)  // 2 free + 2 cached, evictable
        // Prompt b takes the two free blocks and publishes them; a's blocks are older.
        try c.reserve(2, newLength: 8)
        for i in 0..<2 { c.register(2, blockIndex: i, hash: hb[i]) }
        c.release(2)
        // A sequence needing 2 new blocks evicts a's (the oldest), not b's.
        try c.reserve(3, newLength: 8)
        c.release(3)
        XCTAssertEqual(c.adoptPrefix(4, hashes: ha), 0)
        XCTAssertEqual(c.adoptPrefix(5, hashes: hb), 8)
        c.release(5)
        XCTAssertEqual(c.freeBlocks, 4)
        XCTAssertEqual(c.prefixHits, 2 + 2)
    }
}
