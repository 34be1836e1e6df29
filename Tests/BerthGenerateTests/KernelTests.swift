import CGGMLKernels
import Testing
@testable import BerthGenerate

/// The vector kernels against the scalar ones, and both against the dequantized float dot.
@Suite struct KernelTests {
    @Test func halfConversionRoundTrips() {
        for f: Float in [0, 1, -2.5, 65504, 6.1e-5, 1e-7, 0.1] {
            let h = bk_fp32_to_fp16(f)
            #expect(abs(bk_fp16_to_fp32(h) - f) <= max(abs(f) * 1e-3, 6e-8))
        }
    }
}
