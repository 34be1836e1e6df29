import ArgumentParser
import BerthEngine
import BerthEval
import BerthGate
import BerthTensor
import Foundation

extension EvalTask: ExpressibleByArgument {}

/// `berth eval`: a model's accuracy (or error) on labelled data, with optional pass/fail gates.
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate a model on labelled data: accuracy, precision/recall/F1, ROC-AUC, log loss; or MSE, RMSE, MAE, R².",
        discussion: """
            Data: a CSV file with a header (--label names the label column) or a .npy array whose first axis \
            is the row (labels from --labels FILE.npy, or --label COLUMN-INDEX of a 2-D array). When the \
            model has one 2-D input, the other columns in file order form it; otherwise each input is read \
            from the column of the same name. Metrics are computed as scikit-learn computes them.
            Gates: --min accuracy=0.9, --max rmse=3, or --gate 'f1_macro>=0.8' (repeatable). Metric names: \
            accuracy, precision_macro, recall_macro, f1_macro, precision_weighted, recall_weighted, \
            f1_weighted, roc_auc, log_loss (classification); mse, rmse, mae, r2 (regression). \
            Probabilities are used as float64 and columns sorted like scikit-learn's classes.
            Exit status: 0 when every gate passes, 1 when a gate is missed, 2 on bad input or a model error.
            """
    )

    @Argument(help: "Path to an .onnx file.")
    var model: String

    @Option(help: ArgumentHelp("The data: a .csv file with a header, or a .npy array.", valueName: "file"))
    var data: String

    @Option(help: ArgumentHelp("The label column: its name in a CSV, its index in a 2-D .npy array.", valueName: "column"))
    var label: String?

    @Option(help: ArgumentHelp("For .npy data: a 1-D .npy file with the labels.", valueName: "file.npy"))
    var labels: String?

    @Option(help: "classification or regression.")
    var task: EvalTask

    @Option(help: "Rows per model run.")
    var batchSize = 256

    @Option(name: .customLong("min"), help: ArgumentHelp("A metric's minimum, as NAME=VALUE (repeatable).", valueName: "metric=value"))
    var minimums: [String] = []

    @Option(name: .customLong("max"), help: ArgumentHelp("A metric's maximum, as NAME=VALUE (repeatable).", valueName: "metric=value"))
    var maximums: [String] = []

    @Option(name: .customLong("gate"), help: ArgumentHelp("A gate expression such as 'accuracy>=0.9' (repeatable).", valueName: "expression"))
    var gateExpressions: [String] = []

    @Option(help: "Classification: the predicted-label output (default: found from the output types).")
    var labelOutput: String?

    @Option(help: "Classification: the probability output (default: found from the output types).")
    var probabilityOutput: String?

    @Option(help: "Regression: the predicted-value output (default: found from the output types).")
    var valueOutput: String?

    @Option(help: ArgumentHelp("Write labels.npy, predictions.npy (and probabilities.npy, classes.npy) to this folder.", valueName: "dir"))
    var savePredictions: String?

    @Option(help: "Intra-op threads (default: all cores).")
    var threads: Int?

    @Flag(help: "Print the report as JSON.")
    var json = false

    func run() throws {
        let report: Report
        do {
            report = try evaluate()
        } catch {
            FileHandle.standardError.write(Data("Error: \(error)\n".utf8))
            throw ExitCode(2)
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print(EvalTable.render(report))
        }
        if report.passed == false {
            let missed = (report.gates ?? []).filter { !$0.passed }
            FileHandle.standardError.write(Data(("gate missed: " + missed.map { g in
                "\(g.gate) (got \(g.value.map { String($0) } ?? "undefined"))"
            }.joined(separator: "; ") + "\n").utf8))
            throw ExitCode(1)
        }
    }

    /// Reads the data, runs the model and returns the report with gates applied.
    private func evaluate() throws -> Report {
        let gates = try minimums.map(Gate.minimum) + maximums.map(Gate.maximum) + gateExpressions.map { try Gate(expression: $0) }
        for g in gates { try g.validate(against: task.metricNames) }
        guard batchSize > 0 else { throw EvalError.invalidArgument("--batch-size must be positive") }
        if let threads, threads <= 0 { throw EvalError.invalidArgument("--threads must be positive") }
        for (what, path) in [("model", Optional(model)), ("--data", Optional(data)), ("--labels", labels)] {
            if let path, !FileManager.default.fileExists(atPath: path) {
                throw EvalError.invalidArgument("\(what): no such file: \(path)")
            }
        }

        let dataset = try loadDataset(data: data, label: label, labels: labels)

        var sessionOptions = SessionOptions()
        if let threads { sessionOptions.intraOpThreads = threads }
        let evaluator = try Evaluator(contentsOf: URL(fileURLWithPath: model), options: sessionOptions)
        let options = Evaluator.Options(task: task, batchSize: batchSize, labelOutput: labelOutput,
                                        probabilityOutput: probabilityOutput, valueOutput: valueOutput)
        var (report, predictions) = try evaluator.evaluate(dataset, options: options, model: model, data: data)
        if !gates.isEmpty { report.apply(gates) }
        if let savePredictions { try save(predictions, to: savePredictions) }
        return report
    }

    /// Writes what the metrics were computed from as .npy files.
    private func save(_ predictions: Predictions, to dir: String) throws {
        let folder = URL(fileURLWithPath: dir)
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            func write(_ t: Tensor, _ name: String) throws {
                try NPY.write(t).write(to: folder.appendingPathComponent(name))
            }
            switch predictions {
            case let .classification(p):
                try write(try labelTensor(p.truth), "labels.npy")
                try write(try labelTensor(p.predicted), "predictions.npy")
                if let probabilities = p.probabilities {
                    try write(try Tensor(shape: [p.truth.count, p.classes.count], values: probabilities), "probabilities.npy")
                    try write(try labelTensor(p.classes), "classes.npy")
                }
            case let .regression(truth, predicted):
                try write(try Tensor(shape: [truth.count], values: truth), "labels.npy")
                try write(try Tensor(shape: [predicted.count], values: predicted), "predictions.npy")
            }
        } catch let e as EvalError {
            throw e
        } catch {
            throw EvalError.invalidArgument("--save-predictions \(dir): \(error)")
        }
    }

    /// Labels as a 1-D tensor: strings, int64 when every number is integral, else float64.
    private func labelTensor(_ labels: [ClassLabel]) throws -> Tensor {
        var strings: [String] = [], numbers: [Double] = []
        for l in labels {
            switch l {
            case let .string(s): strings.append(s)
            case let .number(v): numbers.append(v)
            }
        }
        if !strings.isEmpty { return try Tensor(shape: [labels.count], values: labels.map(\.description)) }
        if numbers.allSatisfy({ $0.rounded() == $0 && abs($0) < 9e18 }) {
            return try Tensor(shape: [labels.count], values: numbers.map { Int64($0) })
        }
        return try Tensor(shape: [labels.count], values: numbers)
    }
}

/// Reads labelled data as `berth eval` does: a CSV with a header (the label in column `label`) or
/// a .npy array (labels from `labels`, or the column index `label` of a 2-D array).
func loadDataset(data: String, label: String?, labels: String?) throws -> Dataset {
    let dataURL = URL(fileURLWithPath: data)
    if dataURL.pathExtension.lowercased() == "npy" {
        var index: Int?
        if labels != nil && label != nil {
            throw EvalError.invalidArgument("for .npy data give --labels FILE.npy or --label COLUMN-INDEX, not both")
        }
        if let label {
            guard let i = Int(label) else {
                throw EvalError.invalidArgument("--label '\(label)': for .npy data give a column index, or the labels with --labels FILE.npy")
            }
            index = i
        }
        return try Dataset.npy(contentsOf: dataURL, labelsURL: labels.map { URL(fileURLWithPath: $0) }, labelIndex: index)
    }
    guard let label else { throw EvalError.invalidArgument("--label COLUMN is required for CSV data") }
    if labels != nil { throw EvalError.invalidArgument("--labels is for .npy data; a CSV holds its labels in --label's column") }
    return try Dataset(table: try CSVReader.read(contentsOf: dataURL), labelColumn: label)
}
