import BerthTensor
import Foundation
import XCTest
@testable import BerthEval

/// Runs the committed digits model (examples/digits_mlp.onnx: input float[?,64], outputs
/// label int64[?] and probabilities float[?,10]) through the evaluator.
final class EvaluatorTests: XCTestCase {
    private let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../examples").standardized

    private func digits() throws -> (Evaluator, Dataset) {
        let evaluator = try Evaluator(contentsOf: examples.appendingPathComponent("digits_mlp.onnx"))
        let dataset = try Dataset.npy(contentsOf: examples.appendingPathComponent("digits_sample.npy"),
                                      labelsURL: examples.appendingPathComponent("digits_sample_labels.npy"), labelIndex: nil)
        return (evaluator, dataset)
    }

    func testDigitsClassification() throws {
        let (evaluator, dataset) = try digits()
        // Batches of 3 rows must give the same outputs as one batch.
        let (report, predictions) = try evaluator.evaluate(dataset, options: .init(task: .classification, batchSize: 3),
                                                           model: "digits", data: "sample")
        XCTAssertEqual(report.rows, 8)
        XCTAssertEqual(report.outputs.label, "label")
        XCTAssertEqual(report.outputs.probabilities, "probabilities")
        XCTAssertEqual(report.classes, (0..<10).map { .number(Double($0)) })
        XCTAssertEqual(report.classOrder, .classTable)
        XCTAssertEqual(report.metric("accuracy"), 1)
        XCTAssertNotNil(report.metric("log_loss"))
        XCTAssertNil(report.metric("roc_auc"), "the sample lacks some digits, so one-vs-rest AUC is undefined")
        XCTAssertTrue(report.metrics.keys.contains("roc_auc"), "undefined metrics stay in the report as null")
        guard case let .classification(p) = predictions, let probs = p.probabilities else { return XCTFail() }
        XCTAssertEqual(probs.count, 80)
        // Same rows in one batch: equal up to float32 rounding (GEMM blocking depends on the batch).
        let single = try XCTUnwrap(try evaluator.run(dataset, batchSize: 256)["probabilities"]?.doubles)
        for (a, b) in zip(single, probs) { XCTAssertEqual(a, b, accuracy: 1e-5) }
    }

    func testDigitsAsCSVWithLabelColumn() throws {
        let (evaluator, npy) = try digits()
        guard case let .table(features) = npy.features else { return XCTFail() }
        var csv = features.names.map { "px\($0)" }.joined(separator: ",") + ",digit\n"
        for r in 0..<npy.rowCount {
            csv += features.columns.map { $0.text[r] }.joined(separator: ",") + ",\(npy.labels.text[r])\n"
        }
        let dataset = try Dataset(table: try CSVReader.parse(Array(csv.utf8), source: "digits.csv"), labelColumn: "digit")
        let (report, _) = try evaluator.evaluate(dataset, options: .init(task: .classification), model: "m", data: "d")
        XCTAssertEqual(report.metric("accuracy"), 1)
        XCTAssertEqual(report.labelColumn, "digit")
    }

    func testStringLabelsAgainstIntegerModelAreRejected() throws {
        let (evaluator, npy) = try digits()
        guard case let .table(features) = npy.features else { return XCTFail("a 2-D array is held as a table") }
        var text = npy.labels.text
        text[5] = "five"
        let bad = try Dataset(table: Table(source: "d.csv", columns: features.columns + [Column(name: "y", text: text)],
                                           rowCount: npy.rowCount), labelColumn: "y")
        XCTAssertThrowsError(try evaluator.evaluate(bad, options: .init(task: .classification), model: "m", data: "d")) { e in
            XCTAssertTrue("\(e)".contains("row 6, column 'y': label 'five' is not a number"), "\(e)")
        }
    }
}
