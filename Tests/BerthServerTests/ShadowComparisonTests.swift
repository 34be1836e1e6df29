@testable import BerthServer
import BerthTensor
import XCTest

/// How a shadow's answer is compared with production's (docs/registry.md): integer and string
/// outputs must be equal; float outputs agree when their per-row argmax is equal, or, for a
/// single-column float output (regression), when they are within 1e-4. The largest absolute float
/// difference is reported.
final class ShadowComparisonTests: XCTestCase {
    private func f32(_ shape: [Int], _ v: [Float]) throws -> Tensor { try Tensor(shape: shape, values: v) }
    private func f64(_ shape: [Int], _ v: [Double]) throws -> Tensor { try Tensor(shape: shape, values: v) }
    private func i64(_ shape: [Int], _ v: [Int64]) throws -> Tensor { try Tensor(shape: shape, values: v) }
    private func str(_ shape: [Int], _ v: [String]) throws -> Tensor { try Tensor(shape: shape, values: v) }

    func testEqualOutputsAgreeWithZeroDiff() throws {
        let outputs = [
            "label": try i64([3], [1, 0, 2]),
            "probabilities": try f32([3, 3], [0.5, 0.25, 0.25, 0.75, 0.125, 0.125, 0, 0.5, 0.5 + 0.0625]),
        ]
        let r = ShadowComparison.compare(production: outputs, shadow: outputs)
        XCTAssertTrue(r.agree)
        XCTAssertEqual(r.maxAbsDiff, 0)
    }

    func testIntegerOnlyOutputsReportNoFloatDiff() throws {
        let r = ShadowComparison.compare(production: ["label": try i64([2], [4, 5])], shadow: ["label": try i64([2], [4, 5])])
        XCTAssertTrue(r.agree)
        XCTAssertNil(r.maxAbsDiff, "no float outputs, so no float difference")
    }

    func testFlippedInt64LabelDisagrees() throws {
        let probs = try f32([3, 2], [0.75, 0.25, 0.25, 0.75, 0.5, 0.5])
        let production = ["label": try i64([3], [0, 1, 0]), "probabilities": probs]
        let shadow = ["label": try i64([3], [0, 1, 1]), "probabilities": probs]
        let r = ShadowComparison.compare(production: production, shadow: shadow)
        XCTAssertFalse(r.agree)
        XCTAssertEqual(r.maxAbsDiff, 0)
    }

    func testFlippedLabelAloneDisagrees() throws {
        let r = ShadowComparison.compare(production: ["label": try i64([4], [7, 7, 7, 7])],
                                         shadow: ["label": try i64([4], [7, 7, 8, 7])])
        XCTAssertFalse(r.agree)
    }

    func testSameArgmaxSmallDifferencesAgreeWithExactMaxDiff() throws {
        // Dyadic values: the differences are exact in binary, so the reported diff is exact.
        let production = try f32([2, 4], [0.5, 0.25, 0.125, 0.125,
                                           0.0625, 0.0625, 0.125, 0.75])
        let shadow = try f32([2, 4], [0.375, 0.25, 0.25, 0.125,
                                       0.0625, 0.1875, 0.125, 0.625])
        let r = ShadowComparison.compare(production: ["p": production], shadow: ["p": shadow])
        XCTAssertTrue(r.agree, "argmax is column 0 then column 3 in both")
        XCTAssertEqual(r.maxAbsDiff, 0.125)
    }

    func testMaxDiffIsTheLargestOverAllOutputs() throws {
        let production = ["a": try f32([1, 2], [1, 0]), "b": try f32([1, 3], [0, 2, 1])]
        let shadow = ["a": try f32([1, 2], [0.75, 0.5]), "b": try f32([1, 3], [0, 3, 1])]
        let r = ShadowComparison.compare(production: production, shadow: shadow)
        XCTAssertTrue(r.agree)
        XCTAssertEqual(r.maxAbsDiff, 1.0)
    }

    func testNonDyadicDifferenceIsReportedExactlyAsFloatToDouble() throws {
        let a: [Float] = [0.7, 0.2, 0.1]
        let b: [Float] = [0.69, 0.21, 0.1]
        let r = ShadowComparison.compare(production: ["p": try f32([1, 3], a)], shadow: ["p": try f32([1, 3], b)])
        XCTAssertTrue(r.agree)
        let expected = max(abs(Double(a[0]) - Double(b[0])), abs(Double(a[1]) - Double(b[1])))
        XCTAssertEqual(r.maxAbsDiff, expected)
    }

    func testDifferentArgmaxDisagrees() throws {
        let production = try f32([3, 3], [0.6, 0.3, 0.1,
                                           0.2, 0.7, 0.1,
                                           0.1, 0.1, 0.8])
        let shadow = try f32([3, 3], [0.6, 0.3, 0.1,
                                       0.2, 0.3, 0.5,
                                       0.1, 0.1, 0.8])
        let r = ShadowComparison.compare(production: ["p": production], shadow: ["p": shadow])
        XCTAssertFalse(r.agree)
        // Row 1 changes by |0.7 - 0.3| and |0.1 - 0.5|, as float32 values widened to double.
        let expected = max(Double(Float(0.7)) - Double(Float(0.3)), Double(Float(0.5)) - Double(Float(0.1)))
        XCTAssertEqual(r.maxAbsDiff, expected)
    }

    func testArgmaxComparisonIsPerRowNotGlobal() throws {
        // Row 1's label changes even though the global maximum (row 0, column 0) is the same.
        let production = try f32([2, 2], [0.9, 0.1, 0.4, 0.6])
        let shadow = try f32([2, 2], [0.9, 0.1, 0.6, 0.4])
        XCTAssertFalse(ShadowComparison.compare(production: ["p": production], shadow: ["p": shadow]).agree)
    }

    func testSingleColumnRegressionWithinTolerance() throws {
        let production = try f64([3, 1], [1.0, -2.5, 100.0])
        let shadow = try f64([3, 1], [1.0 + 5e-5, -2.5 - 9e-5, 100.0])
        let r = ShadowComparison.compare(production: ["y": production], shadow: ["y": shadow])
        XCTAssertTrue(r.agree)
        XCTAssertEqual(r.maxAbsDiff ?? -1, 9e-5, accuracy: 1e-12)
    }

    func testSingleColumnRegressionOutsideTolerance() throws {
        let production = try f64([3, 1], [1.0, -2.5, 100.0])
        let shadow = try f64([3, 1], [1.0, -2.5 - 2e-4, 100.0])
        let r = ShadowComparison.compare(production: ["y": production], shadow: ["y": shadow])
        XCTAssertFalse(r.agree)
        XCTAssertEqual(r.maxAbsDiff ?? -1, 2e-4, accuracy: 1e-12)
    }

    func testRankOneFloatIsRegression() throws {
        // A [N] float output has one value per row: a regression, compared within 1e-4.
        let production = try f32([2], [0.5, 0.25])
        XCTAssertTrue(ShadowComparison.compare(production: ["y": production], shadow: ["y": try f32([2], [0.5, 0.25])]).agree)
        let far = ShadowComparison.compare(production: ["y": production], shadow: ["y": try f32([2], [0.5, 0.375])])
        XCTAssertFalse(far.agree)
        XCTAssertEqual(far.maxAbsDiff, 0.125)
    }

    func testStringOutputs() throws {
        let production = ["label": try str([3], ["cat", "dog", "cat"])]
        let same = ShadowComparison.compare(production: production, shadow: ["label": try str([3], ["cat", "dog", "cat"])])
        XCTAssertTrue(same.agree)
        XCTAssertNil(same.maxAbsDiff)
        let other = ShadowComparison.compare(production: production, shadow: ["label": try str([3], ["cat", "dog", "bird"])])
        XCTAssertFalse(other.agree)
    }

    func testShapeMismatchDisagrees() throws {
        let production = ["p": try f32([2, 2], [0.75, 0.25, 0.25, 0.75])]
        let shadow = ["p": try f32([1, 4], [0.75, 0.25, 0.25, 0.75])]
        XCTAssertFalse(ShadowComparison.compare(production: production, shadow: shadow).agree)
        let fewerRows = ["p": try f32([1, 2], [0.75, 0.25])]
        XCTAssertFalse(ShadowComparison.compare(production: production, shadow: fewerRows).agree)
        let labels = ShadowComparison.compare(production: ["l": try i64([2], [1, 2])], shadow: ["l": try i64([3], [1, 2, 3])])
        XCTAssertFalse(labels.agree)
    }

    func testMissingOutputDisagrees() throws {
        let production = ["label": try i64([1], [1]), "p": try f32([1, 2], [0.25, 0.75])]
        let shadow = ["label": try i64([1], [1])]
        XCTAssertFalse(ShadowComparison.compare(production: production, shadow: shadow).agree)
    }

    func testNaNOnOneSideDisagrees() throws {
        let production = ["y": try f32([2, 1], [1, 2])]
        let shadow = ["y": try f32([2, 1], [1, .nan])]
        let r = ShadowComparison.compare(production: production, shadow: shadow)
        XCTAssertFalse(r.agree)
        XCTAssertEqual(r.maxAbsDiff, .infinity)
    }
}
