import ArgumentParser
import BerthMonitor
import Foundation

/// `berth drift`: does current data differ from reference data, column by column?
struct DriftCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drift",
        abstract: "Compare current data with reference data, column by column (Evidently's DataDriftPreset defaults).",
        discussion: """
            Both files are CSVs with a header and the same columns. Reference ≤ 1,000 rows: numbers with \
            more than 5 distinct values → Kolmogorov-Smirnov, other columns → chi-squared (Z-test with two \
            categories), drift when p < 0.05. More rows: Wasserstein distance / reference std for numbers, \
            Jensen-Shannon distance for categories, drift when ≥ 0.1. The data set drifted when at least \
            half of the columns did. Methods: ks, chisquare, z, wasserstein, jensenshannon, psi. Empty and \
            NaN values are left out. Exit status: 0 (drift or not), 2 on bad input.
            """
    )

    @Option(help: ArgumentHelp("The reference CSV (what the model was trained or validated on).", valueName: "file.csv"))
    var reference: String

    @Option(help: ArgumentHelp("The current CSV (what the model sees now).", valueName: "file.csv"))
    var current: String

    @Option(name: .customLong("method"), help: ArgumentHelp("A column's method, as NAME=METHOD (repeatable).", valueName: "column=method"))
    var methods: [String] = []

    @Option(name: .customLong("threshold"), help: ArgumentHelp("A column's threshold, as NAME=X (repeatable).", valueName: "column=x"))
    var thresholds: [String] = []

    @Option(help: ArgumentHelp("Only these columns (comma-separated; default: all).", valueName: "a,b"))
    var columns: String?

    @Option(help: ArgumentHelp("The prediction column: tested and reported apart, not counted in the drift share.", valueName: "column"))
    var prediction: String?

    @Flag(help: "Print the report as JSON.")
    var json = false

    func run() throws {
        try exitTwoOnBadInput {
            let report = try check()
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: try encoder.encode(report), as: UTF8.self))
            } else {
                print(DriftTable.render(report))
            }
        }
    }

    private func check() throws -> DriftReport {
        var methodFor: [String: DriftMethod] = [:]
        for (name, value) in try parsePairs(methods, what: "--method") {
            guard let m = DriftMethod(rawValue: value) else {
                throw CLIError("--method \(name)=\(value): unknown method; use one of "
                    + DriftMethod.allCases.map(\.rawValue).joined(separator: ", "))
            }
            methodFor[name] = m
        }
        var thresholdFor: [String: Double] = [:]
        for (name, value) in try parsePairs(thresholds, what: "--threshold") {
            guard let x = Double(value), x.isFinite else { throw CLIError("--threshold \(name)=\(value): not a number") }
            thresholdFor[name] = x
        }
        let names = columns.map { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } }
        if let names, names.isEmpty || names.contains("") { throw CLIError("--columns needs comma-separated column names") }
        let data = try DriftData(reference: URL(fileURLWithPath: reference), current: URL(fileURLWithPath: current),
                                 columns: names, prediction: prediction)
        let known = Set(data.features.map(\.name) + (data.prediction.map { [$0.name] } ?? []))
        for name in Set(methodFor.keys).union(thresholdFor.keys) where !known.contains(name) {
            throw CLIError("--method/--threshold name column '\(name)', which is not tested; the columns are "
                + known.sorted().map { "'\($0)'" }.joined(separator: ", "))
        }
        guard !data.features.isEmpty else { throw CLIError("no feature columns to test (only the prediction column)") }
        return try DriftDetector(methods: methodFor, thresholds: thresholdFor).report(features: data.features, prediction: data.prediction)
    }
}
