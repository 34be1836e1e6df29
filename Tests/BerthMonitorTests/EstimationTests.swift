@testable import BerthMonitor
import XCTest

/// Isotonic regression and CBPE against values worked out by hand.
final class EstimationTests: XCTestCase {
    func testIsotonicRegression() throws {
        let iso = try IsotonicRegression(x: [1, 2, 3, 4], y: [1, 3, 2, 4])
        XCTAssertEqual(iso.predict(2.5), 2.5, accuracy: 1e-15)
        XCTAssertEqual(iso.predict(0), 1)
        XCTAssertEqual(iso.predict(3.5), 3.25, accuracy: 1e-15)
        XCTAssertEqual(iso.predict(9), 4)
    }

    func testCBPEExpectedConfusionMatrix() throws {
        // Calibrated scores 0.9, 0.8 predicted positive and 0.3 negative: expected TP 1.7, FP 0.3,
        // TN 0.7, FN 0.3 → accuracy (1.7 + 0.7) / 3.
        let cbpe = try CBPE(referenceScores: [0.2, 0.8], referenceTruth: [false, true])   // too few rows: no calibration
        XCTAssertNil(cbpe.calibrator)
        let m = try cbpe.estimate(scores: [0.9, 0.8, 0.3], predicted: [true, true, false])
        XCTAssertEqual(m.accuracy, 2.4 / 3, accuracy: 1e-12)
        XCTAssertEqual(m.f1Macro, (1.7 / (1.7 + 0.3) + 0.7 / (0.7 + 0.3)) / 2, accuracy: 1e-12)
    }
}
