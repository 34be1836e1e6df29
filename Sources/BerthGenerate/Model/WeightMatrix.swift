import CGGMLKernels
import Dispatch

/// A 2-D weight in the file's own type (rows × cols, rows of `cols` elements), read in place
/// from the mapped GGUF file.
public struct WeightMatrix: @unchecked Sendable {
    public let name: String
    public let type: GGMLType
    public let rows: Int
    public let cols: Int
    public let rowBytes: Int
    let data: UnsafeRawPointer

    init(file: GGUFFile, name: String, cols: Int, rows: Int) throws {
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
    }

    /// Row `r` as floats.
    func dequantizeRow(_ r: Int, into out: UnsafeMutablePointer<Float>) {
        bk_dequantize_row(Int32(type.rawValue), data + r * rowBytes, out, Int64(cols))
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

    public init(threads: Int) { self.threads = max(1, threads) }

    /// out[t][r] = Σ_c w[r][c] · x[t][c] for t < ntok (x: ntok × cols, out: ntok × rows).
    func callAsFunction(_ w: WeightMatrix, _ x: UnsafePointer<Float>, ntok: Int, out: UnsafeMutablePointer<Float>) {
        let dotType = bk_vec_dot_type(Int32(w.type.rawValue))
        let qRow = Int(bk_type_size(dotType)) * w.cols / Int(bk_block_size(dotType))
        let xq = UnsafeMutableRawPointer.allocate(byteCount: max(qRow * ntok, 1), alignment: 64)
        defer { xq.deallocate() }
        for t in 0..<ntok { bk_quantize_row(dotType, x + t * w.cols, xq + t * qRow, Int64(w.cols)) }
        let work = w.rows * w.cols * ntok
        let chunks = work < 1 << 16 ? 1 : min(threads, w.rows)
        let wType = Int32(w.type.rawValue), wData = w.data, rowBytes = w.rowBytes, rows = w.rows, cols = w.cols
        let xqr = UnsafeRawPointer(xq)
        let body: (Int) -> Void = { c in
            let r0 = rows * c / chunks, r1 = rows * (c + 1) / chunks
            guard r1 > r0 else { return }
            bk_matmul(wType, wData, rowBytes, Int64(r0), Int64(r1), xqr, qRow, Int64(ntok), Int64(cols), out + r0, Int64(rows))
        }
        if chunks == 1 { body(0) } else { DispatchQueue.concurrentPerform(iterations: chunks, execute: body) }
    }
}
