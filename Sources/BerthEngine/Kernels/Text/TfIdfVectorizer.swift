import BerthONNX
import BerthTensor

/// One item of an n-gram: an integer or a string, as the pool and the input hold them.
private enum NGramToken: Hashable {
    case int(Int)
    case string(String)
}

/// TfIdfVectorizer: counts, per row of X ([C] or [B, C], ints or strings), the pool's n-grams
/// of lengths min_gram_length…max_gram_length whose items are `skip + 1` apart for every skip up
/// to max_skip_count (unigrams counted once), and writes the counts (TF), their indicators
/// times `weights` (IDF) or the counts times `weights` (TFIDF) at the n-grams' `ngram_indexes`.
/// This follows the ONNX reference and ONNX Runtime, including how n-gram ids run across the
/// pool's length groups (`ngram_counts`) even for lengths outside the range.
func tfIdfVectorizer(_ node: Node) throws -> Kernel {
    let minGram = try node.int("min_gram_length"), maxGram = try node.int("max_gram_length")
    let maxSkip = try node.int("max_skip_count")
    let mode = try node.string("mode", default: "TF")
    guard ["TF", "IDF", "TFIDF"].contains(mode) else { throw KernelError("TfIdfVectorizer mode must be TF, IDF or TFIDF, got '\(mode)'") }
    guard minGram >= 1, maxGram >= minGram, maxSkip >= 0 else {
        throw KernelError("TfIdfVectorizer needs 1 <= min_gram_length <= max_gram_length and max_skip_count >= 0, got \(minGram), \(maxGram), \(maxSkip)")
    }
    let counts = try node.ints("ngram_counts") ?? []
    let indexes = try node.ints("ngram_indexes") ?? []
    let weights: [Float]
    if case let .floats(w)? = node.attributes["weights"] { weights = w } else { weights = [] }
    let pool: [NGramToken]
    if let ints = try node.ints("pool_int64s"), !ints.isEmpty {
        pool = ints.map(NGramToken.int)
    } else if case let .strings(s)? = node.attributes["pool_strings"] {
        pool = s.map(NGramToken.string)
    } else {
        throw KernelError("TfIdfVectorizer needs pool_int64s or pool_strings")
    }
    guard let maxIndex = indexes.max(), indexes.allSatisfy({ $0 >= 0 }) else {
        throw KernelError("TfIdfVectorizer ngram_indexes must be non-empty and non-negative")
    }
    let width = maxIndex + 1
    guard weights.isEmpty || weights.count >= width else {
        throw KernelError("TfIdfVectorizer has \(weights.count) weights for \(width) outputs")
    }
    // n-gram → output column; ids run over every group in pool order.
    var columns: [[NGramToken]: Int] = [:]
    var id = 0
    for (g, start) in counts.enumerated() {
        let end = g + 1 < counts.count ? counts[g + 1] : pool.count
        let size = g + 1
        guard start >= 0, start <= end, end <= pool.count else { throw KernelError("TfIdfVectorizer ngram_counts \(counts) do not fit a pool of \(pool.count)") }
        let grams = (end - start) / size
        for k in 0..<grams {
            defer { id += 1 }
            guard size >= minGram, size <= maxGram else { continue }
            guard id < indexes.count else { throw KernelError("TfIdfVectorizer has more n-grams than ngram_indexes (\(indexes.count))") }
            columns[Array(pool[(start + k * size)..<(start + (k + 1) * size)])] = indexes[id]
        }
    }
    return { inputs, _ in
        let x = try inputs.required(0)
        let tokens: [NGramToken]
        switch x.storage {
        case let .string(v): tokens = v.map(NGramToken.string)
        case .int32, .int64: tokens = try x.integers().map(NGramToken.int)
        default: throw KernelError("TfIdfVectorizer input must be int32, int64 or strings, got \(x.dtype)")
        }
        let rows: Int, c: Int
        switch x.rank {
        case 0: (rows, c) = (1, 1)
        case 1: (rows, c) = (1, x.shape[0])
        case 2: (rows, c) = (x.shape[0], x.shape[1])
        default: throw KernelError("TfIdfVectorizer input must be [C] or [B, C], got shape \(x.shape)")
        }
        let outShape = x.rank == 2 ? [rows, width] : [width]
        var freq = [Float](repeating: 0, count: try TensorFamily.count(outShape))
        for r in 0..<rows {
            let row = tokens[(r * c)..<((r + 1) * c)]
            var startSize = minGram
            // A skip of c or more leaves no room for a second item: those passes count nothing
            // (unigrams are counted in the first), so a huge max_skip_count costs no time.
            for skip in 1...min(maxSkip + 1, max(1, c)) {
                for s in row.indices {
                    guard s + skip * (startSize - 1) < row.endIndex else { break }
                    var gram: [NGramToken] = []
                    var item = s
                    while gram.count < maxGram, item < row.endIndex {
                        gram.append(row[item])
                        if gram.count >= startSize, let col = columns[gram] { freq[r * width + col] += 1 }
                        item += skip
                    }
                }
                // Unigrams do not depend on the skip: count them in the first pass only.
                if startSize == 1 {
                    startSize = 2
                    if startSize > maxGram { break }
                }
            }
        }
        switch mode {
        case "IDF":
            for i in freq.indices where freq[i] > 0 { freq[i] = weights.isEmpty ? 1 : weights[i % width] }
        case "TFIDF" where !weights.isEmpty:
            for i in freq.indices { freq[i] *= weights[i % width] }
        default: break
        }
        return [Tensor(unchecked: outShape, storage: .float32(freq))]
    }
}
