import CInt8Kernels
import XCTest

/// The C quantize sweep (`berth_quantize_levels`) on each of its paths — scalar, AVX2, AVX-512 —
/// against ONNX QuantizeLinear's definition written out here: `saturate(round_half_even(x / scale)
/// + zero_point)`, NaN → the zero point. Exact: the bytes must be equal.
final class QuantizeLevelsTests: XCTestCase {
    private func reference(_ x: [Float], scale: Float, zero: Int32, lo: Int32, hi: Int32) -> [UInt8] {
        x.map { e in
            let q = e / scale
            if q.isNaN { return UInt8(truncatingIfNeeded: zero) }
            let r = q.rounded(.toNearestOrEven) + Float(zero)
            let level = r <= Float(lo) ? lo : r >= Float(hi) ? hi : Int32(r)
            return UInt8(truncatingIfNeeded: level)
        }
    }

    private func inputs() -> [Float] {
        var g = SystemRandomNumberGenerator()
        // Halfway cases (k + 0.5) · 0.25 divide exactly by the scale 0.25: rounding to even is checked.
        var x = (-300...300).map { (Float($0) + 0.5) * 0.25 }
        x += (0..<700).map { _ in Float.random(in: -80...80, using: &g) }
        x += [.nan, .infinity, -.infinity, -0.0, 0, .greatestFiniteMagnitude, -.greatestFiniteMagnitude, 1e-30]
        x += [Float](repeating: 0.375, count: 7)  // a tail shorter than any vector
        return x
    }

    func testEveryPathEqualsTheDefinition() {
        let x = inputs()
        var taken = Set<Int32>()
        for (lo, hi, zeros) in [(Int32(0), Int32(255), [Int32(0), 3, 128, 255]), (-128, 127, [-128, -5, 0, 127])] {
            for zero in zeros {
                let want = reference(x, scale: 0.25, zero: zero, lo: lo, hi: hi)
                for isa in Int32(0)...2 {
                    var got = [UInt8](repeating: 0xAA, count: x.count)
                    let path = berth_quantize_levels_isa(isa, x, x.count, 0.25, zero, lo, hi, &got)
                    taken.insert(path)
                    XCTAssertEqual(got, want, "path \(path) (asked \(isa)), zero point \(zero), bounds [\(lo), \(hi)]")
                }
            }
        }
        XCTAssertTrue(taken.contains(0), "the scalar path must always run")
    }

    func testUInt8EntryPointIsTheUnsignedCase() {
        let x = inputs()
        var a = [UInt8](repeating: 0, count: x.count), b = a
        berth_u8_quantize(x, x.count, 0.5, 7, &a)
        berth_quantize_levels(x, x.count, 0.5, 7, 0, 255, &b)
        XCTAssertEqual(a, b)
        XCTAssertEqual(a, reference(x, scale: 0.5, zero: 7, lo: 0, hi: 255))
    }
}
