import BerthGate
import XCTest

final class GateTests: XCTestCase {
    func testParsesAllForms() throws {
        XCTAssertEqual(try Gate.minimum("accuracy=0.9"), Gate(metric: "accuracy", comparison: .atLeast, threshold: 0.9))
        XCTAssertEqual(try Gate.maximum("rmse=3"), Gate(metric: "rmse", comparison: .atMost, threshold: 3))
        XCTAssertEqual(try Gate(expression: "accuracy>=0.9"), Gate(metric: "accuracy", comparison: .atLeast, threshold: 0.9))
        XCTAssertEqual(try Gate(expression: " rmse <= 3 "), Gate(metric: "rmse", comparison: .atMost, threshold: 3))
        XCTAssertEqual(try Gate(expression: "log_loss<0.5"), Gate(metric: "log_loss", comparison: .below, threshold: 0.5))
        XCTAssertEqual(try Gate(expression: "f1_macro>0.8"), Gate(metric: "f1_macro", comparison: .above, threshold: 0.8))
        XCTAssertEqual(try Gate(expression: "accuracy>=0.9").description, "accuracy >= 0.9")
        XCTAssertEqual(try Gate(expression: "rmse<=3").description, "rmse <= 3", "whole thresholds print without a fraction")
    }

    func testRejectsMalformed() {
        for bad in ["accuracy", "accuracy>=", ">=0.9", "accuracy>=high", "acc uracy>=0.9", "accuracy>=nan"] {
            XCTAssertThrowsError(try Gate(expression: bad), bad) { e in
                XCTAssertTrue("\(e)".hasPrefix("gate '\(bad)': "), "the message names the expression: \(e)")
            }
        }
        for bad in ["accuracy", "accuracy>=0.9", "=0.9", "accuracy=x"] {
            XCTAssertThrowsError(try Gate.minimum(bad), bad)
        }
    }

    func testValidatesMetricNames() throws {
        XCTAssertThrowsError(try Gate(expression: "acc>=0.9").validate(against: ["accuracy", "f1_macro"])) { e in
            XCTAssertEqual("\(e)", "gate 'acc >= 0.9': unknown metric 'acc'; the metrics are accuracy, f1_macro")
        }
        XCTAssertNoThrow(try Gate(expression: "r2>=0.5").validate(against: ["mse", "r2"]))
    }

    func testComparisons() throws {
        let atLeast = try Gate(expression: "accuracy>=0.9")
        XCTAssertTrue(atLeast.isMet(by: 0.9), "the bound is inclusive")
        XCTAssertFalse(atLeast.isMet(by: 0.89))
        XCTAssertFalse(atLeast.isMet(by: nil), "an undefined metric never passes")
        XCTAssertFalse(atLeast.isMet(by: .nan), "NaN never passes")
        XCTAssertFalse(try Gate(expression: "rmse<3").isMet(by: 3), "a strict bound excludes the threshold")
        XCTAssertTrue(try Gate(expression: "rmse>3").isMet(by: 3.5))
        XCTAssertEqual(atLeast.result(for: 0.95), GateResult(gate: "accuracy >= 0.9", metric: "accuracy", value: 0.95, passed: true))
    }
}
