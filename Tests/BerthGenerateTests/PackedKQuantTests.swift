import CGGMLKernels
import XCTest
@testable import BerthGenerate

/// The repacked Q4_K and Q6_K kernels (llama.cpp's eight-row interleave; the four-token × eight-row
/// GEMM, the one-token GEMV and the scalar fallback) against a direct reading of ggml's Q4_K, Q6_K
/// and Q8_K block formats computed here in 64-bit integers.
///
/// Exact: the weights' d (and Q4_K's dmin) and the activations' d are 1 or 2 and |y| is small, so
/// every product and partial sum is an integer below 2^24 (asserted): float arithmetic in any order
/// gives the integer result, and the kernels must equal it to the bit. A wrong lane, nibble, high
/// bit pair, scale, min, block sum or "-32" offset changes an integer and fails.
final class PackedKQuantTests: XCTestCase {
    private struct Activations {
        var bytes: [UInt8]      // ntok rows of block_q8_K (float d, 256 int8, 16 int16 sums of 16)
        var y: [[Int]]          // the int8 values per token
        var d: [[Int]]          // the block scales per token and super-block
        let rowBytes: Int
    }

    private func activations(ntok: Int, n: Int, maxAbs: Int, _ g: inout SplitMix64) -> Activations {
        let nsb = n / 256, xRow = 292 * nsb
        var a = Activations(bytes: [UInt8](repeating: 0, count: ntok * xRow), y: Array(repeating: [], count: ntok),
                            d: Array(repeating: [], count: ntok), rowBytes: xRow)
        for t in 0..<ntok {
            for s in 0..<nsb {
                let o = t * xRow + s * 292, d = Int(g.next() % 2) + 1
                a.d[t].append(d)
                withUnsafeBytes(of: Float(d)) { for k in 0..<4 { a.bytes[o + k] = $0[k] } }
                var block: [Int] = []
                for e in 0..<256 {
                    let v = Int(g.next() % UInt64(2 * maxAbs + 1)) - maxAbs
                    block.append(v)
                    a.bytes[o + 4 + e] = UInt8(bitPattern: Int8(v))
                }
                for k in 0..<16 {
                    let sum = Int16(block[(16 * k)..<(16 * k + 16)].reduce(0, +))
                    withUnsafeBytes(of: sum.littleEndian) { a.bytes[o + 260 + 2 * k] = $0[0]; a.bytes[o + 261 + 2 * k] = $0[1] }
                }
                a.y[t] += block
            }
        }
        return a
    }

    /// Random weight bytes whose f16 fields at `halfOffsets` of every block are 1 or 2.
    private func weights(rows: Int, blocks: Int, blockBytes: Int, halfOffsets: [Int], _ g: inout SplitMix64) -> [UInt8] {
        var w = (0..<(rows * blocks * blockBytes)).map { _ in UInt8(truncatingIfNeeded: g.next()) }
        for b in 0..<(rows * blocks) {
            for h in halfOffsets { w[b * blockBytes + h] = 0; w[b * blockBytes + h + 1] = g.next() % 2 == 0 ? 0x3C : 0x40 }
        }
        return w
    }

    private func half(_ w: [UInt8], _ o: Int) -> Int { w[o + 1] == 0x3C ? 1 : 2 }

    /// Packs `w` and checks the one-row kernel and the packed kernels (VNNI, then the scalar
    /// fallback) against `want` (ntok × rows), for several token counts and a slice from row 8.
    private func checkPacked(type: Int32, w: [UInt8], rows: Int, n: Int, x: Activations, want: [Float], packedBlock: Int) {
        let wRow = w.count / rows, ntokMax = x.y.count
        XCTAssertTrue(want.allSatisfy { abs($0) < Float(1 << 24) }, "test values must stay exact in float")
        let bytes = bk_packed_bytes(type, Int64(rows), Int64(n))
        XCTAssertEqual(bytes, (rows + 7) / 8 * (n / 256) * packedBlock)
        var packed = [UInt8](repeating: 0, count: bytes)
        bk_pack(type, w, wRow, Int64(rows), Int64(n), &packed)
        var oneRow = [Float](repeating: 0, count: ntokMax * rows)
        for k in 0..<ntokMax {
            oneRow.withUnsafeMutableBufferPointer { o in
                x.bytes.withUnsafeBytes { xb in
                    bk_matmul(type, w, wRow, 0, Int64(rows), xb.baseAddress! + k * x.rowBytes, x.rowBytes, 1, Int64(n), o.baseAddress! + k * rows, Int64(rows))
                }
            }
        }
        XCTAssertEqual(oneRow, want, "type \(type): one-row kernel")
        for level: Int32 in [2, 1] {
            bk_set_max_level(level)
            for ntok in [1, 3, 4, 5, 8, 11, 16, 21, 37] where ntok <= ntokMax {
                var got = [Float](repeating: .nan, count: ntok * rows)
                bk_matmul_packed(type, packed, Int64(rows), 0, Int64(rows), x.bytes, x.rowBytes, Int64(ntok), Int64(n), &got, Int64(rows))
                XCTAssertEqual(got, Array(want[0..<(ntok * rows)]), "type \(type), level \(level), \(ntok) tokens")
                // Rows 8..<rows written from out[0] (a thread's slice): whole groups then the partial one.
                var slice = [Float](repeating: .nan, count: ntok * rows)
                bk_matmul_packed(type, packed, Int64(rows), 8, Int64(rows), x.bytes, x.rowBytes, Int64(ntok), Int64(n), &slice, Int64(rows))
                for k in 0..<ntok {
                    XCTAssertEqual(Array(slice[(k * rows)..<(k * rows + rows - 8)]), Array(want[(k * rows + 8)..<(k * rows + rows)]),
                                   "type \(type), level \(level), \(ntok) tokens, slice, token \(k)")
                }
            }
        }
        bk_set_max_level(2)
    }

    /// ggml's get_scale_min_k4: the j-th 6-bit scale and min of a Q4_K block's 12 scale bytes at `o`.
    private func scaleMin(_ j: Int, _ q: [UInt8], _ o: Int) -> (Int, Int) {
        if j < 4 { return (Int(q[o + j] & 63), Int(q[o + j + 4] & 63)) }
        return (Int(q[o + j + 4] & 0xF) | Int(q[o + j - 4] >> 6) << 4, Int(q[o + j + 4] >> 4) | Int(q[o + j] >> 6) << 4)
    }

    func testPackedQ4KEqualsExactIntegerReference() throws {
        guard bk_kernel_level() >= 2 else { throw XCTSkip("no AVX-512 VNNI on this CPU: Q4_K is not packed") }
        defer { bk_set_max_level(2) }
        let rows = 29, n = 768, nsb = n / 256
        var g = SplitMix64(seed: 17)
        // block_q4_K: d, dmin (f16), 12 scale bytes, 128 nibble bytes.
        let w = weights(rows: rows, blocks: nsb, blockBytes: 144, halfOffsets: [0, 2], &g)
        let x = activations(ntok: 11, n: n, maxAbs: 4, &g)
        // Σ_blocks dx · (d · Σ_j sc_j · Σ q·y − dmin · Σ_j m_j · Σ y)
        var want = [Float](repeating: 0, count: 11 * rows)
        for t in 0..<11 {
            for r in 0..<rows {
                var total = 0
                for s in 0..<nsb {
                    let o = (r * nsb + s) * 144
                    var main = 0, mins = 0
                    for j in 0..<8 {
                        let (sc, mn) = scaleMin(j, w, o + 4)
                        var qy = 0, ys = 0
                        for l in 0..<32 {
                            let byte = Int(w[o + 16 + 32 * (j / 2) + l]), v = x.y[t][256 * s + 32 * j + l]
                            qy += (j % 2 == 0 ? byte & 15 : byte >> 4) * v
                            ys += v
                        }
                        main += sc * qy
                        mins += mn * ys
                    }
                    total += x.d[t][s] * (half(w, o) * main - half(w, o + 2) * mins)
                }
                want[t * rows + r] = Float(total)
            }
        }
        checkPacked(type: Int32(BK_Q4_K), w: w, rows: rows, n: n, x: x, want: want, packedBlock: 1184)
    }

    func testPackedQ6KEqualsExactIntegerReference() throws {
        guard bk_kernel_level() >= 2 else { throw XCTSkip("no AVX-512 VNNI on this CPU: Q6_K is not packed") }
        defer { bk_set_max_level(2) }
        // 29 rows end in a partial group; 24 are whole groups only (the sixteen-token passes' tokens
        // then skip the four-token kernel's "-32" sums).
        checkQ6K(rows: 29, seed: 19)
        checkQ6K(rows: 24, seed: 23)
    }

    private func checkQ6K(rows: Int, seed: UInt64) {
        let n = 512, nsb = n / 256
        var g = SplitMix64(seed: seed)
        // block_q6_K: ql[128], qh[64], int8 scales[16], d (f16) at 208; d = 1 keeps the sums exact.
        var w = weights(rows: rows, blocks: nsb, blockBytes: 210, halfOffsets: [208], &g)
        for b in 0..<(rows * nsb) { w[b * 210 + 209] = 0x3C }
        // 37 tokens: the sixteen-token prefill kernel (two passes), then four- and one-token ones.
        let ntok = 37
        let x = activations(ntok: ntok, n: n, maxAbs: 2, &g)
        // Σ_blocks dx · d · Σ_j sc_j · Σ (q − 32)·y, q = 4 low bits from ql, 2 high bits from qh.
        var want = [Float](repeating: 0, count: ntok * rows)
        for t in 0..<ntok {
            for r in 0..<rows {
                var total = 0
                for s in 0..<nsb {
                    let o = (r * nsb + s) * 210
                    var sum = 0
                    for e in 0..<256 {
                        let h = e / 128, k = (e % 128) / 32, l = e % 32
                        let lo = Int(w[o + 64 * h + 32 * (k % 2) + l]), hi = Int(w[o + 128 + 32 * h + l])
                        let q = ((k < 2 ? lo & 15 : lo >> 4) | ((hi >> (2 * k)) & 3) << 4) - 32
                        sum += Int(Int8(bitPattern: w[o + 192 + e / 16])) * q * x.y[t][256 * s + e]
                    }
                    total += x.d[t][s] * sum
                }
                want[t * rows + r] = Float(total)
            }
        }
        checkPacked(type: Int32(BK_Q6_K), w: w, rows: rows, n: n, x: x, want: want, packedBlock: 1808)
    }
}
