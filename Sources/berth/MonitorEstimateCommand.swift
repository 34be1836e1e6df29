import ArgumentParser
import BerthEngine
import BerthEval
import BerthMonitor
import Foundation

/// `berth monitor estimate`: a binary classifier's accuracy, macro F1 and ROC-AUC on data without
/// labels, by confidence-based performance estimation (NannyML's CBPE).
struct MonitorEstimateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "estimate",
        abstract: "Estimate a binary classifier's accuracy, F1 and ROC-AUC on unlabelled data (NannyML's CBPE).",
        discussion: """
            The model runs on the labelled reference CSV (not its training data) and on the analysis CSV; \
            inputs come from the columns as in berth eval, the label column left out. The reference \
            probabilities are calibrated (isotonic regression) when that lowers their expected calibration \
            error; the expected confusion matrix of the analysis rows gives the estimates. When the analysis \
            file has the label column, the realized values are reported too. Exit status 2 on bad input.
            """
    )

    @Argument(help: "Path to an .onnx binary classifier with a probability output.")
    var model: String

    @Option(help: ArgumentHelp("Labelled reference data (CSV with a header).", valueName: "file.csv"))
    var reference: String

    @Option(help: ArgumentHelp("The data to estimate on (CSV; the label column is optional).", valueName: "file.csv"))
    var analysis: String

    @Option(help: ArgumentHelp("The label column.", valueName: "column"))
    var label: String

    @Option(help: "Intra-op threads (default: all cores).")
    var threads: Int?

    @Flag(help: "Print the result as JSON.")
    var json = false

    func run() throws {
        try exitTwoOnBadInput {
            if let threads, threads <= 0 { throw CLIError("--threads must be positive") }
            for (what, path) in [("model", model), ("--reference", reference), ("--analysis", analysis)]
            where !FileManager.default.fileExists(atPath: path) {
                throw CLIError("\(what): no such file: \(path)")
            }
            var options = SessionOptions()
            if let threads { options.intraOpThreads = threads }
            let estimator = try PerformanceEstimator(model: URL(fileURLWithPath: model), labelColumn: label, options: options)
            let ref = try CSVReader.read(contentsOf: URL(fileURLWithPath: reference))
            let cur = try CSVReader.read(contentsOf: URL(fileURLWithPath: analysis))
            guard ref.names.contains(label) else {
                throw CLIError("\(reference) has no label column '\(label)'; its columns are " + ref.names.map { "'\($0)'" }.joined(separator: ", "))
            }
            let result = try estimator.estimate(reference: ref, analysis: cur)
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: try encoder.encode(result), as: UTF8.self))
            } else {
                print(render(result))
            }
        }
    }

    private func render(_ r: PerformanceEstimate) -> String {
        func f(_ x: Double?) -> String { x.map { String(format: "%.4f", $0) } ?? "-" }
        var lines = ["metric     estimated  realized", "---------  ---------  --------"]
        for (name, m) in [("accuracy", r.accuracy), ("f1_macro", r.f1Macro), ("roc_auc", r.rocAUC)] {
            lines.append(name.padding(toLength: 9, withPad: " ", startingAt: 0) + "  " + f(m.estimated).leftPad(9) + "  " + f(m.realized).leftPad(8))
        }
        lines.append("")
        lines.append("\(r.rows) analysis rows; positive class \(r.positiveClass); reference probabilities "
            + (r.calibrated ? "calibrated (isotonic)" : "used as they are (calibration would not lower their ECE)"))
        return lines.joined(separator: "\n")
    }
}

private extension String {
    func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}
