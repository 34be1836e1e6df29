import CGGMLKernels
import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// A 2-D weight in the file's own type (rows × cols, rows of `cols` elements), read in place
/// from the mapped GGUF file.
public struct WeightMatrix: @unchecked Sendable {
    public let name: String
    public let type: GGMLType
    public let rows: Int
    public let cols: Int
    public let rowBytes: Int
    let data: UnsafeRawPointer
    /// The same weights in the kernels' packed eight-row layout, when they have one for this type
    /// and CPU (Q4_0 and Q8_0 with AVX2; Q4_K and Q6_K with AVX-512 VNNI); matrix products then read
    /// only this copy.
    let packed: PackedWeights?

    /// `pack: false` for weights only looked up by row (the token embedding).
    init(file: GGUFFile, name: String, cols: Int, rows: Int, pack: Bool = true) throws {
        guard let info = file.tensors[name] else { throw GenerateError.badTensor("'\(name)' is missing") }
        guard info.dims.count <= 2, info.rowLength == cols, info.rowCount == rows else {
            throw GenerateError.badTensor("'\(name)' has shape \(info.dims), expected [\(cols), \(rows)]")
        }
        self.name = name
        type = info.type
        self.rows = rows
        self.cols = cols
        rowBytes = info.type.rowBytes(cols)!
        data = file.data(of: info)
        packed = pack ? PackedWeights(type: info.type, data: data, rowBytes: rowBytes, rows: rows, cols: cols) : nil
    }

    /// Row `r` as floats.
    func dequantizeRow(_ r: Int, into out: UnsafeMutablePointer<Float>) {
        bk_dequantize_row(Int32(type.rawValue), data + r * rowBytes, out, Int64(cols))
    }
}

/// A weight matrix repacked at load into groups of eight rows (llama.cpp repacks Q4_0 and Q4_K the same way):
/// one contiguous stream per matrix product instead of eight strided rows, which is what lets a
/// decode step run at memory speed. The buffer asks for transparent huge pages, and the file's
/// pages of the matrix are released afterwards so the weights are not resident twice.
final class PackedWeights: @unchecked Sendable {
    // @unchecked: the buffer is written once in init, then only read.
    let pointer: UnsafeMutableRawPointer
    let byteCount: Int

    init?(type: GGMLType, data: UnsafeRawPointer, rowBytes: Int, rows: Int, cols: Int) {
        let t = Int32(type.rawValue)
        let bytes = bk_packed_bytes(t, Int64(rows), Int64(cols))
        guard bytes > 0 else { return nil }
        let huge = 2 << 20
        var p: UnsafeMutableRawPointer?
        guard posix_memalign(&p, bytes >= huge ? huge : 64, bytes) == 0, let p else { return nil }
        #if os(Linux)
        if bytes >= huge { _ = madvise(p, bytes, MADV_HUGEPAGE) }
        #endif
        bk_pack(t, data, rowBytes, Int64(rows), Int64(cols), p)
        pointer = p
        byteCount = bytes
        Self.release(data, count: rowBytes * rows)
    }

    deinit { free(pointer) }

    /// Drops the mapped file pages wholly inside `[data, data + count)` from this process: they are
    /// clean, so a later read (a tied embedding's row lookup) faults them back in from the page cache.
    private static func release(_ data: UnsafeRawPointer, count: Int) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (Int(bitPattern: data) + page - 1) / page * page
        let end = (Int(bitPattern: data) + count) / page * page
        guard end > start, let p = UnsafeMutableRawPointer(bitPattern: start) else { return }
        _ = madvise(p, end - start, MADV_DONTNEED)
    }
}

/// Reads a 1-D tensor (norm weights, biases) of any supported type as floats.
func loadVector(_ file: GGUFFile, _ name: String, count: Int) throws -> [Float] {
    guard let info = file.tensors[name] else { throw GenerateError.badTensor("'\(name)' is missing") }
    guard info.dims.reduce(1, *) == count, info.type.rowBytes(count) != nil else {
        throw GenerateError.badTensor("'\(name)' has shape \(info.dims), expected [\(count)]")
    }
    var v = [Float](repeating: 0, count: count)
    v.withUnsafeMutableBufferPointer { bk_dequantize_row(Int32(info.type.rawValue), file.data(of: info), $0.baseAddress!, Int64(count)) }
    return v
}

/// Multiplies weights by activation rows the way llama.cpp does: each activation row is first
/// converted to the weight type's dot type (Q8_0, Q8_1, Q8_K, F16 …), then every weight row is
/// dotted with it block by block. Rows of the weight are split over the worker threads.
public struct MatMul: Sendable {
    public let threads: Int
    /// The threads that split every product (and the attention heads) of this model.
    let workers: SpinningWorkers

    public init(threads: Int) {
        self.threads = max(1, threads)
        workers = SpinningWorkers(count: self.threads)
    }

    /// out[t][r] = Σ_c w[r][c] · x[t][c] for t < ntok (x: ntok × cols, out: ntok × rows).
    func callAsFunction(_ w: WeightMatrix, _ x: UnsafePointer<Float>, ntok: Int, out: UnsafeMutablePointer<Float>) {
        let dotType = bk_vec_dot_type(Int32(w.type.rawValue))
        let qRow = Int(bk_type_size(dotType)) * w.cols / Int(bk_block_size(dotType))
        let xq = UnsafeMutableRawPointer.allocate(byteCount: max(qRow * ntok, 1), alignment: 64)
        defer { xq.deallocate() }
        // Prefill quantizes its rows on every thread (a single-threaded pass here would cap the speed-up).
        let qParts = ntok >= 8 ? min(threads, ntok) : 1, cols0 = w.cols
        workers.run(chunks: qParts) { p in
            for t in (ntok * p / qParts)..<(ntok * (p + 1) / qParts) {
                bk_quantize_row(dotType, x + t * cols0, xq + t * qRow, Int64(cols0))
            }
        }
        let work = w.rows * w.cols * ntok
        let chunks = work < 1 << 16 ? 1 : min(threads, w.rows)
        let wType = Int32(w.type.rawValue), wData = w.data, rowBytes = w.rowBytes, rows = w.rows, cols = w.cols
        let xqr = UnsafeRawPointer(xq)
        // Packed weights are split on eight-row group boundaries (bk_force_scalar turns them off for tests).
        let packed = bk_kernel_level() >= 1 ? w.packed?.pointer : nil
        let body: (Int) -> Void = { c in
            var r0 = rows * c / chunks, r1 = rows * (c + 1) / chunks
            if let packed {
                r0 = r0 / 8 * 8
                r1 = c == chunks - 1 ? rows : r1 / 8 * 8
                guard r1 > r0 else { return }
                bk_matmul_packed(wType, packed, Int64(rows), Int64(r0), Int64(r1), xqr, qRow, Int64(ntok), Int64(cols), out + r0, Int64(rows))
                return
            }
            guard r1 > r0 else { return }
            bk_matmul(wType, wData, rowBytes, Int64(r0), Int64(r1), xqr, qRow, Int64(ntok), Int64(cols), out + r0, Int64(rows))
        }
        workers.run(chunks: chunks, body)
    }
}
