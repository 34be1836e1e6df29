import BerthGate
import XCTest
@testable import BerthEval

/// Gates applied to a `berth eval` report (the gate syntax itself: BerthGateTests).
final class ReportGateTests: XCTestCase {
    private func report(_ metrics: [String: Double?]) -> Report {
        Report(model: "m.onnx", data: "d.csv", task: .classification, rows: 10, labelColumn: "y",
               outputs: .init(label: "label", probabilities: nil, value: nil), classes: nil, classOrder: nil,
               metrics: metrics, perClass: nil, confusionMatrix: nil, gates: nil, passed: nil, notes: [])
    }

    func testValidatesAgainstTheTaskMetrics() throws {
        XCTAssertThrowsError(try Gate(expression: "acc>=0.9").validate(against: EvalTask.classification.metricNames)) { e in
            XCTAssertTrue("\(e)".contains("unknown metric 'acc'"), "\(e)")
        }
        XCTAssertNoThrow(try Gate(expression: "r2>=0.5").validate(against: EvalTask.regression.metricNames))
    }

    func testChecksReport() throws {
        var r = report(["accuracy": 0.92, "log_loss": 0.3, "roc_auc": nil])
        r.apply([try Gate.minimum("accuracy=0.9"), try Gate.maximum("log_loss=0.25"), try Gate(expression: "roc_auc>=0.5")])
        XCTAssertEqual(r.gates?.map(\.passed), [true, false, false], "an undefined metric never passes")
        XCTAssertEqual(r.passed, false)
        r.apply([try Gate(expression: "accuracy>=0.92")])
        XCTAssertEqual(r.passed, true, "the bound is inclusive")
    }

    func testReportJSONKeepsUndefinedMetricsAsNull() throws {
        let data = try JSONEncoder().encode(report(["accuracy": 0.5, "roc_auc": nil]))
        let text = String(decoding: data, as: UTF8.self)
        XCTAssertTrue(text.contains("\"roc_auc\":null"), text)
        XCTAssertTrue(text.contains("\"label_column\":\"y\""), text)
        let back = try JSONDecoder().decode(Report.self, from: data)
        XCTAssertEqual(back.metric("accuracy"), 0.5)
        XCTAssertNil(back.metric("roc_auc"))
    }
}
