import CGGMLKernels
import XCTest
@testable import BerthGenerate

/// The dot kernels on the fixtures' real weight rows: the run-time-picked vector kernels against
/// the scalar ones, and both against a float dot of the dequantized weight with the dequantized
/// quantized activation (the integer products are exact, so only float rounding separates them).
final class KernelTests: XCTestCase {
    func testHalfConversionRoundTrips() {
        for f: Float in [0, 1, -2.5, 65504, 6.1e-5, 1e-7, 0.1, -0.333] {
            let h = bk_fp32_to_fp16(f)
            XCTAssertTrue(abs(bk_fp16_to_fp32(h) - f) <= max(abs(f) * 1e-3, 6e-8))
        }
        XCTAssertTrue(bk_fp32_to_fp16(1.0) == 0x3C00)
        XCTAssertTrue(bk_fp32_to_fp16(-2.0) == 0xC000)
        XCTAssertTrue(bk_fp32_to_fp16(1e6) == 0x7C00)
    }

    /// The vectorised activation quantizers write exactly the scalar reference's bytes (ggml's
    /// arithmetic): random rows, an all-zero block, and a block whose largest magnitude appears
    /// with both signs (the first occurrence sets the scale's sign).
    func testVectorQuantizersEqualScalar() throws {
        guard bk_kernel_level() >= 1 else { throw XCTSkip("no AVX2 on this CPU") }
        var g = SplitMix64(seed: 5)
        let n = 1024
        var x = (0..<n).map { _ in Float(g.nextDouble() * 6 - 3) }
        for i in 256..<512 { x[i] = 0 }
        x[520] = 4; x[530] = -4; x[790] = -5; x[800] = 5
        for type in [BK_Q8_0, BK_Q8_K] {
            let dt = Int32(type)
            let bytes = Int(bk_type_size(dt)) * n / Int(bk_block_size(dt))
            var vec = [UInt8](repeating: 0, count: bytes), sca = vec
            bk_quantize_row(dt, x, &vec, Int64(n))
            bk_force_scalar(1)
            bk_quantize_row(dt, x, &sca, Int64(n))
            bk_force_scalar(0)
            XCTAssertEqual(vec, sca, "type \(type)")
        }
    }

    func test_vectorKernelsMatchScalarAndFloat() throws {
        for name in Fixtures.models { try vectorKernelsMatchScalarAndFloat(name) }
    }

    func vectorKernelsMatchScalarAndFloat(_ name: String) throws {
        let (model, _) = try Fixtures.load(name)
        var g = SplitMix64(seed: 7)
        let layer = model.layers[0]
        for w in [layer.wq, layer.wk, layer.wv, layer.wo, layer.gate, layer.up, layer.down, model.output] {
            let n = w.cols, rows = min(w.rows, 16)
            let x = (0..<n).map { _ in Float(g.nextDouble() * 2 - 1) }
            let dt = bk_vec_dot_type(Int32(w.type.rawValue))
            let qBytes = Int(bk_type_size(dt)) * n / Int(bk_block_size(dt))
            var xq = [UInt8](repeating: 0, count: qBytes)
            bk_quantize_row(dt, x, &xq, Int64(n))
            var xd = [Float](repeating: 0, count: n)
            if dt == Int32(BK_Q8_0) || dt == Int32(BK_F16) || dt == Int32(BK_BF16) || dt == Int32(BK_F32) {
                bk_dequantize_row(dt, xq, &xd, Int64(n))
            } else if dt == Int32(BK_Q8_1) {
                // Q8_1 blocks: d (f16), s (f16), 32 int8.
                for b in 0..<(n / 32) {
                    let d = bk_fp16_to_fp32(UInt16(xq[b * 36]) | UInt16(xq[b * 36 + 1]) << 8)
                    for j in 0..<32 { xd[b * 32 + j] = Float(Int8(bitPattern: xq[b * 36 + 4 + j])) * d }
                }
            } else {
                // Q8_K blocks: d (f32), 256 int8, 16 int16 sums.
                for b in 0..<(n / 256) {
                    let d = xq.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: b * 292, as: Float.self) }
                    for j in 0..<256 { xd[b * 256 + j] = Float(Int8(bitPattern: xq[b * 292 + 4 + j])) * d }
                }
            }
            var vec = [Float](repeating: 0, count: rows), sca = [Float](repeating: 0, count: rows)
            bk_matmul(Int32(w.type.rawValue), w.data, w.rowBytes, 0, Int64(rows), xq, qBytes, 1, Int64(n), &vec, Int64(rows))
            bk_force_scalar(1)
            bk_matmul(Int32(w.type.rawValue), w.data, w.rowBytes, 0, Int64(rows), xq, qBytes, 1, Int64(n), &sca, Int64(rows))
            bk_force_scalar(0)
            // Five copies of the activation: four go through the 4-row kernels, one through the single one.
            let xq5 = Array([[UInt8]](repeating: xq, count: 5).joined())
            var multi = [Float](repeating: 0, count: 5 * rows)
            bk_matmul(Int32(w.type.rawValue), w.data, w.rowBytes, 0, Int64(rows), xq5, qBytes, 5, Int64(n), &multi, Int64(rows))
            for t in 0..<5 {
                for r in 0..<rows {
                    XCTAssertEqual(multi[t * rows + r], vec[r], accuracy: abs(vec[r]) * 1e-5 + 1e-5, "\(name) \(w.name) row \(r) token \(t)")
                }
            }
            var wr = [Float](repeating: 0, count: n)
            for r in 0..<rows {
                wr.withUnsafeMutableBufferPointer { w.dequantizeRow(r, into: $0.baseAddress!) }
                var ref: Double = 0, mag: Double = 0
                for i in 0..<n { ref += Double(wr[i]) * Double(xd[i]); mag += abs(Double(wr[i]) * Double(xd[i])) }
                if dt == Int32(BK_Q8_1) {
                    // Q4_1 · Q8_1 uses the block sum s = fp16(d·Σq) as stored, as ggml does: the
                    // reference takes m·s with that rounding instead of m·d·Σq.
                    let row = w.data + r * w.rowBytes
                    for b in 0..<(n / 32) {
                        let m = bk_fp16_to_fp32(row.loadUnaligned(fromByteOffset: b * 20 + 2, as: UInt16.self))
                        let s = bk_fp16_to_fp32(UInt16(xq[b * 36 + 2]) | UInt16(xq[b * 36 + 3]) << 8)
                        let exact = (0..<32).reduce(0.0) { $0 + Double(xd[b * 32 + $1]) }
                        ref += Double(m) * (Double(s) - exact)
                    }
                }
                let tol = Float(mag) * 1e-5 + 1e-6
                XCTAssertTrue(abs(vec[r] - Float(ref)) <= tol, "\(name) \(w.name) \(w.type.name) row \(r): vector \(vec[r]) vs \(ref)")
                XCTAssertTrue(abs(sca[r] - Float(ref)) <= tol, "\(name) \(w.name) \(w.type.name) row \(r): scalar \(sca[r]) vs \(ref)")
            }
        }
    }

    /// The packed eight-row kernels (Q4_0, Q8_0, Q4_K, Q6_K; AVX-512 VNNI and AVX2) against the one-row
    /// kernels of the same level: one token of Q4_0 and Q8_0 gives exactly their floats (same integer
    /// lanes, same summation order); Q4_K and Q6_K, and Q4_0's sixteen-row kernel for four tokens, sum whole
    /// blocks in integers before scaling, so they agree to float rounding (1e-5 of the largest
    /// output). Checked on every fixture weight of those types, with a row count that leaves a
    /// sixteen-row pass, a lone group and a partial group, one, five and nine tokens, and a slice
    /// that starts at a group boundary (how the threads split a matrix).
    func testPackedKernelsEqualOneRowKernels() throws {
        let detected = bk_kernel_level()
        guard detected >= 1 else { throw XCTSkip("no AVX2 on this CPU: the packed kernels are not used") }
        defer { bk_set_max_level(2) }
        var checked = 0
        for level in (1...detected).reversed() {
            bk_set_max_level(Int32(level))
            for name in Fixtures.models {
                let (model, _) = try Fixtures.load(name)
                let layer = model.layers[0]
                for w in [layer.wq, layer.wk, layer.wv, layer.wo, layer.gate, layer.up, layer.down, model.output]
                where w.type == .q4_0 || w.type == .q8_0 || w.type == .q4_K || w.type == .q6_K {
                    // Loaded at this level: Q4_K and Q6_K are packed for the VNNI kernels only.
                    let kQuant = w.type == .q4_K || w.type == .q6_K
                    XCTAssertEqual(w.packed != nil, !kQuant || level >= 2, "\(name) \(w.name) packing at level \(level)")
                    try checkPacked(w, name: "\(name) level \(level)", level: Int32(level))
                    checked += 1
                }
            }
        }
        XCTAssertGreaterThan(checked, 0, "no Q4_0, Q8_0, Q4_K or Q6_K weight in the fixtures")
    }

    private func checkPacked(_ w: WeightMatrix, name: String, level: Int32) throws {
        let rows = min(w.rows, 29), n = w.cols, t = Int32(w.type.rawValue)
        var g = SplitMix64(seed: 11)
        let dt = bk_vec_dot_type(t)
        let qBytes = Int(bk_type_size(dt)) * n / Int(bk_block_size(dt))
        var xq = [UInt8](repeating: 0, count: 9 * qBytes)
        for k in 0..<9 {
            let x = (0..<n).map { _ in Float(g.nextDouble() * 2 - 1) }
            xq.withUnsafeMutableBytes { bk_quantize_row(dt, x, $0.baseAddress! + k * qBytes, Int64(n)) }
        }
        func same(_ a: [Float], _ b: [Float], _ what: String, exact: Bool) {
            guard w.type != .q4_K, w.type != .q6_K, exact else {
                let tol = (b.map { abs($0) }.max() ?? 0) * 1e-5 + 1e-6
                for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: tol, what) }
                return
            }
            XCTAssertEqual(a, b, what)
        }
        // Q4_K and Q6_K are packed only for the VNNI kernels; capped to AVX2 they still have to be right.
        bk_set_max_level(2)
        let bytes = bk_packed_bytes(t, Int64(rows), Int64(n))
        bk_set_max_level(level)
        XCTAssertGreaterThan(bytes, 0)
        var packed = [UInt8](repeating: 0, count: bytes)
        bk_pack(t, w.data, w.rowBytes, Int64(rows), Int64(n), &packed)
        // The one-row kernels, one token at a time (their four-token variants round differently).
        var want = [Float](repeating: 0, count: 9 * rows)
        for k in 0..<9 {
            want.withUnsafeMutableBufferPointer { o in
                xq.withUnsafeBytes { x in
                    bk_matmul(t, w.data, w.rowBytes, 0, Int64(rows), x.baseAddress! + k * qBytes, qBytes, 1, Int64(n), o.baseAddress! + k * rows, Int64(rows))
                }
            }
        }
        for ntok in [1, 5, 9] {
            // Only Q4_0 has the sixteen-row kernel (AVX-512 VNNI, four tokens at a time).
            let exact = ntok == 1 || level < 2 || w.type == .q8_0
            var got = [Float](repeating: 0, count: ntok * rows), slice = got
            bk_matmul_packed(t, packed, Int64(rows), 0, Int64(rows), xq, qBytes, Int64(ntok), Int64(n), &got, Int64(rows))
            same(got, Array(want[0..<(ntok * rows)]), "\(name) \(w.name) \(ntok) tokens", exact: exact)
            // Rows 8..<29 only, written from out[0]: a sixteen-row pass, then the partial last group.
            slice.withUnsafeMutableBufferPointer { o in
                bk_matmul_packed(t, packed, Int64(rows), 8, Int64(rows), xq, qBytes, Int64(ntok), Int64(n), o.baseAddress!, Int64(rows))
            }
            for k in 0..<ntok {
                same(Array(slice[(k * rows)..<(k * rows + rows - 8)]), Array(want[(k * rows + 8)..<(k * rows + rows)]), "\(name) \(w.name) slice", exact: exact)
            }
        }
    }
}
