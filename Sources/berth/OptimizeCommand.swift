import ArgumentParser
import BerthEval
import BerthOptimize
import Foundation

/// `berth optimize`: graph rewrites written back as standard ONNX, with a report.
struct OptimizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "optimize",
        abstract: "Rewrite a model's graph (remove Identity/Dropout and dead nodes, fold constants; with --level all fold BatchNormalization into Conv and MatMul + Add into Gemm) and report what changed.",
        discussion: """
            The output is standard ONNX (default-domain ops only) that ONNX Runtime runs too, with the same \
            outputs as the input model. The report gives the node count, file size and Berth's latency at batch \
            1 and 32 before and after (same run) and, with --eval-data, the metrics. Exit status: 0 on success, \
            2 on bad input (unreadable model); the output is written only on success.
            """)

    @Argument(help: "The .onnx model to optimize.") var input: String
    @Argument(help: "Where to write the optimized model.") var output: String
    @Option(help: "basic or all.") var level = "basic"
    @OptionGroup var options: CompressionReportOptions

    func run() throws { try exitTwoOnBadInput(optimize) }

    private func optimize() throws {
        guard let lvl = GraphOptimization.Level(rawValue: level) else { throw CLIError("--level must be basic or all, got '\(level)'") }
        let inURL = URL(fileURLWithPath: input), outURL = URL(fileURLWithPath: output)
        let dataset = try options.dataset()
        let proto = try ModelFile.read(inURL)
        let result = try GraphOptimization.apply(proto, level: lvl, baseDirectory: inURL.deletingLastPathComponent())
        try ModelFile.write(result.model, to: outURL, input: inURL)
        var report = OptimizeReport(input: input, output: output, level: level, nodesBefore: proto.graph.node.count,
                                    nodesAfter: result.model.graph.node.count,
                                    sizeBefore: CompressionMeasure.fileSize(inURL), sizeAfter: CompressionMeasure.fileSize(outURL),
                                    passes: result.passes.map { .init(pass: $0.name, rewrites: $0.rewrites) })
        (report.latency, report.metricsBefore, report.metricsAfter) = try options.measure(before: inURL, after: outURL, dataset: dataset)
        if options.json { try printJSON(report) } else { print(report.table) }
    }
}

/// What `berth optimize` prints.
struct OptimizeReport: Encodable {
    struct Pass: Encodable { var pass: String; var rewrites: Int }

    var input: String, output: String, level: String
    var nodesBefore: Int, nodesAfter: Int, sizeBefore: Int, sizeAfter: Int
    var passes: [Pass]
    var latency: [CompressionMeasure.Latency] = []
    var metricsBefore: [String: Double?]?
    var metricsAfter: [String: Double?]?

    enum CodingKeys: String, CodingKey {
        case input, output, level, passes, latency
        case nodesBefore = "nodes_before", nodesAfter = "nodes_after", sizeBefore = "size_before", sizeAfter = "size_after"
        case metricsBefore = "metrics_before", metricsAfter = "metrics_after"
    }

    var table: String {
        var lines = ["\(input) → \(output) (level \(level))",
                     "nodes      \(nodesBefore) → \(nodesAfter)",
                     String(format: "size       %d → %d bytes", sizeBefore, sizeAfter)]
        lines += passes.map { "pass       \($0.pass): \($0.rewrites)" }
        lines += latency.map(\.line)
        lines += CompressionMeasure.metricLines(metricsBefore, metricsAfter)
        return lines.joined(separator: "\n")
    }
}
