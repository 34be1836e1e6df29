/// Keys and values of every running sequence, in fixed-size blocks (vLLM's paged attention
/// layout). The pool is sized once from a memory budget; each sequence owns a block table, a
/// block is taken when a sequence crosses into it and all of a sequence's blocks return to the
/// free list when it ends. Attention reads through the block table, so sequences never need
/// contiguous memory and a finished one gives its memory back at once.
///
/// Prefix caching (vLLM's automatic prefix caching): a full block of prompt tokens is keyed by
/// the hash of its tokens and its parent block's hash, so a later sequence whose prompt starts
/// the same way adopts those blocks instead of recomputing them. A block is shared read-only
/// (only whole prompt blocks are shared; a sequence writes past them), counted by references;
/// when no sequence holds a keyed block it stays cached until its memory is needed (LRU).
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
    private var refcount: [Int]
    private var hashOfBlock: [Int: UInt64] = [:]
    private var blockOfHash: [UInt64: Int] = [:]
    /// Keyed blocks no sequence holds, oldest first: reused when `free` runs out.
    private var evictable: [Int] = []
    /// Prompt blocks looked up and found (`prefix_cache_queries` / `_hits`).
    public private(set) var prefixQueries = 0
    public private(set) var prefixHits = 0

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
        refcount = [Int](repeating: 0, count: count)
    }

    deinit { storage.deallocate() }

    /// Blocks not owned by any sequence (free, or cached and evictable).
    public var freeBlocks: Int { free.count + evictable.count }
    /// Fraction of the pool held by sequences (vLLM's `kv_cache_usage_perc`).
    public var usage: Double { Double(blockCount - freeBlocks) / Double(blockCount) }
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
        guard need <= freeBlocks else { throw GenerateError.cacheFull("sequence needs \(need) blocks, \(freeBlocks) free") }
        var table = tables[seq] ?? []
        for _ in 0..<need {
            let b: Int
            if let f = free.popLast() { b = f } else {
                b = evictable.removeFirst()
                if let h = hashOfBlock.removeValue(forKey: b) { blockOfHash[h] = nil }
            }
            refcount[b] = 1
            table.append(b)
        }
        tables[seq] = table
        lengths[seq] = max(lengths[seq] ?? 0, newLength)
    }

    /// Returns every block of `seq` to the pool.
    public func release(_ seq: Int) {
        for b in tables.removeValue(forKey: seq) ?? [] {
            refcount[b] -= 1
            if refcount[b] == 0 {
                if hashOfBlock[b] != nil { evictable.append(b) } else { free.append(b) }
            }
        }
        lengths[seq] = nil
    }

    /// Keys of the whole blocks of `tokens`: each hashes its tokens and its parent's key (FNV-1a).
    public func blockHashes(_ tokens: [Int]) -> [UInt64] {
        var out: [UInt64] = []
        var parent: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in 0..<(tokens.count / blockSize) {
            var h = parent
            for t in tokens[(b * blockSize)..<((b + 1) * blockSize)] {
                for byte in 0..<8 { h = (h ^ UInt64(truncatingIfNeeded: t >> (byte * 8)) & 0xff) &* 0x100_0000_01b3 }
            }
            out.append(h)
            parent = h
        }
        return out
    }

    /// Gives a new sequence the cached blocks of its prompt's leading `hashes`, as far as they
    /// match; returns the number of tokens it need not compute.
    public func adoptPrefix(_ seq: Int, hashes: [UInt64]) -> Int {
        precondition(tables[seq] == nil, "adoptPrefix on a sequence that has blocks")
        var table: [Int] = []
        prefixQueries += hashes.count
        for h in hashes {
            guard let b = blockOfHash[h] else { break }
            if refcount[b] == 0, let i = evictable.firstIndex(of: b) { evictable.remove(at: i) }
            refcount[b] += 1
            table.append(b)
        }
        prefixHits += table.count
        guard !table.isEmpty else { return 0 }
        tables[seq] = table
        lengths[seq] = table.count * blockSize
        return table.count * blockSize
    }

    /// Records that block `index` of `seq`, now full of prompt tokens, has key `hash`.
    public func register(_ seq: Int, blockIndex: Int, hash: UInt64) {
        guard let table = tables[seq], blockIndex < table.count else { return }
        let b = table[blockIndex]
        guard blockOfHash[hash] == nil, hashOfBlock[b] == nil else { return }
        blockOfHash[hash] = b
        hashOfBlock[b] = hash
    }

    /// Where token `pos` of `seq` keeps its values for `layer` (kvDim floats; a block's tokens follow each other).
    @inline(__always)
    func valueSlot(_ table: [Int], layer: Int, pos: Int) -> UnsafeMutablePointer<Float> {
        let block = table[pos / blockSize]
        return storage + block * blockFloats + (layer * 2 + 1) * blockSize * kvDim + (pos % blockSize) * kvDim
    }

    /// The keys of the block holding `pos` for `layer`, transposed: dimension `i` of the block's
    /// token `p` at `[i · blockSize + p]`, so attention scores a block's tokens as vector lanes.
    @inline(__always)
    func keyBlock(_ table: [Int], layer: Int, pos: Int) -> UnsafeMutablePointer<Float> {
        storage + table[pos / blockSize] * blockFloats + layer * 2 * blockSize * kvDim
    }

    /// Stores token `pos`'s keys (kvDim floats) into its block's transposed layout.
    @inline(__always)
    func storeKeys(_ table: [Int], layer: Int, pos: Int, from k: UnsafePointer<Float>) {
        let base = keyBlock(table, layer: layer, pos: pos) + pos % blockSize
        for i in 0..<kvDim { base[i * blockSize] = k[i] }
    }

    func table(_ seq: Int) -> [Int] { tables[seq] ?? [] }
}
