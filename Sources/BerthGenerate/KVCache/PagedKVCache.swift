/// Keys and values of every running sequence, in fixed-size blocks (vLLM's paged attention
/// layout). The pool is sized once from a memory budget; each sequence owns a block table, a
/// block is taken when a sequence crosses into it and all of a sequence's blocks return to the
/// free list when it ends. Attention reads through the block table, so sequences never need
/// contiguous memory and a finished one gives its memory back at once.
///
/// Not thread-safe: the engine's loop is its only user.
public final class PagedKVCache: @unchecked Sendable {
    /// Tokens per block.
    public let blockSize: Int
    /// Blocks in the pool.
    public let blockCount: Int
    let layers: Int
    let kvDim: Int
    /// Floats per block: layers × (K, V) × blockSize × kvDim.
    let blockFloats: Int
    let storage: UnsafeMutablePointer<Float>
    private var free: [Int]
    private var tables: [Int: [Int]] = [:]
    private var lengths: [Int: Int] = [:]

    /// A pool of at most `budgetBytes` (at least one block).
    public init(layers: Int, kvDim: Int, blockSize: Int = 16, budgetBytes: Int) throws {
        self.blockSize = blockSize
        self.layers = layers
        self.kvDim = kvDim
        let (bf, o1) = layers.multipliedReportingOverflow(by: 2 * blockSize * kvDim)
        guard !o1, bf > 0 else { throw GenerateError.invalidRequest("KV cache block size overflows") }
        blockFloats = bf
        let count = budgetBytes / (bf * MemoryLayout<Float>.size)
        guard count >= 1 else { throw GenerateError.invalidRequest("KV cache budget \(budgetBytes) bytes holds no block of \(bf * 4) bytes") }
        blockCount = count
        storage = .allocate(capacity: count * bf)
        free = Array((0..<count).reversed())
    }

    deinit { storage.deallocate() }

    /// Blocks not owned by any sequence.
    public var freeBlocks: Int { free.count }
    /// Fraction of the pool in use (vLLM's `kv_cache_usage_perc`).
    public var usage: Double { Double(blockCount - free.count) / Double(blockCount) }
    /// Tokens the pool can hold in total.
    public var capacityTokens: Int { blockCount * blockSize }

    /// Tokens cached for `seq`.
    public func length(of seq: Int) -> Int { lengths[seq] ?? 0 }

    /// Blocks `seq` would need in addition to hold `newLength` tokens.
    public func blocksNeeded(_ seq: Int, newLength: Int) -> Int {
        max(0, (newLength + blockSize - 1) / blockSize - (tables[seq]?.count ?? 0))
    }

    /// Grows `seq`'s block table to hold `newLength` tokens; throws when the pool is exhausted
    /// (taking nothing in that case).
    public func reserve(_ seq: Int, newLength: Int) throws {
        let need = blocksNeeded(seq, newLength: newLength)
        guard need <= free.count else { throw GenerateError.cacheFull("sequence needs \(need) blocks, \(free.count) free") }
        var table = tables[seq] ?? []
        for _ in 0..<need { table.append(free.removeLast()) }
        tables[seq] = table
        lengths[seq] = max(lengths[seq] ?? 0, newLength)
    }

    /// Returns every block of `seq` to the pool.
    public func release(_ seq: Int) {
        if let table = tables.removeValue(forKey: seq) { free.append(contentsOf: table) }
        lengths[seq] = nil
    }

    /// Where token `pos` of `seq` keeps its keys (`v` false) or values for `layer`.
    @inline(__always)
    func slot(_ table: [Int], layer: Int, pos: Int, value: Bool) -> UnsafeMutablePointer<Float> {
        let block = table[pos / blockSize]
        return storage + block * blockFloats + (layer * 2 + (value ? 1 : 0)) * blockSize * kvDim + (pos % blockSize) * kvDim
    }

    func table(_ seq: Int) -> [Int] { tables[seq] ?? [] }
}
