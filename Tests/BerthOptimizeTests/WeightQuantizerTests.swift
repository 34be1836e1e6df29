import BerthOptimize
import XCTest

final class WeightQuantizerTests: XCTestCase {
    func testSymmetricPerTensorRoundsHalfToEvenWithinHalfAStep() {
        // max|w| = 12.7 → scale 0.1; 0.05 → 0.5 steps rounds to 0, 0.15 → 1.5 rounds to 2.
        let w: [Float] = [12.7, -12.7, 0.05, 0.15, 0, -0.25]
        let q = QuantizedWeights(w, rows: 3, columns: 2, perChannel: false)
        XCTAssertEqual(q.scales.count, 1)
        XCTAssertEqual(q.scales[0], 0.1, accuracy: 1e-7)
        XCTAssertEqual(q.values, [127, -127, 0, 2, 0, -2])
        XCTAssertLessThanOrEqual(q.maxError(against: w, columns: 2), q.scales[0] / 2 + 1e-6)
    }

    func testPerChannelScalesFollowEachColumn() {
        let w: [Float] = [1, 100, -0.5, -50]
        let q = QuantizedWeights(w, rows: 2, columns: 2, perChannel: true)
        XCTAssertEqual(q.scales.count, 2)
        XCTAssertEqual(q.scales[0], 1 / 127, accuracy: 1e-9)
        XCTAssertEqual(q.scales[1], 100 / 127, accuracy: 1e-6)
        XCTAssertEqual(q.values, [127, 127, -64, -64])
        // Per column, the small column's error is bounded by its own half step, far below what
        // one scale for the whole matrix leaves on it.
        let perTensor = QuantizedWeights(w, rows: 2, columns: 2, perChannel: false)
        let small = [w[0], w[2]]
        func column0(_ q: QuantizedWeights) -> Float {
            zip([q.values[0], q.values[2]], small).map { abs(Float($0) * q.scales[0] - $1) }.max()!
        }
        XCTAssertLessThanOrEqual(column0(q), q.scales[0] / 2 + 1e-7)
        XCTAssertGreaterThan(column0(perTensor), 10 * column0(q))
    }

    func testZeroAndNonFiniteWeightsNeverTrap() {
        let zero = QuantizedWeights([0, 0, 0, 0], rows: 2, columns: 2, perChannel: true)
        XCTAssertEqual(zero.values, [0, 0, 0, 0])
        XCTAssertEqual(zero.scales, [1, 1])
        let odd = QuantizedWeights([.nan, 1, .infinity, -1], rows: 2, columns: 2, perChannel: true)
        XCTAssertEqual(odd.values.count, 4)
    }
}
