import ArgumentParser
import BerthEngine
import BerthEval
import BerthOptimize
import BerthTensor
import Foundation

/// `berth prune`: magnitude or structured pruning written as standard ONNX, with a report.
struct PruneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Prune a model's MatMul/Gemm/Conv weights (magnitude, or whole units with --structured) and report size, latency and accuracy.",
        discussion: """
            Without --structured, the --sparsity share of each weight with the smallest absolute values becomes 0 \
            (shapes stay). With --structured, every layer whose units feed exactly one next layer (through \
            biases, BatchNormalization and activations) loses that share of its units with the smallest L2 weight \
            norm (with --eval-data: the smallest mean activation × outgoing weight norm on that data), and the \
            next layer the matching rows or input channels: the file and the work shrink. Units tied \
            to other tensors (residual Add, Concat, graph outputs) are kept and listed. With --eval-data and \
            --min-accuracy, sparsities 0.1, 0.2, … up to --sparsity are tried and the largest that keeps the \
            accuracy is written. The output is standard ONNX that ONNX Runtime runs too. Exit status: 0 on success, \
            2 on bad input (nothing prunable, no sparsity keeps the accuracy); the output is written only on success.
            """)

    @Argument(help: "The .onnx model to prune.") var input: String
    @Argument(help: "Where to write the pruned model.") var output: String
    @Option(help: "Share of weights (or, with --structured, of each layer's units) to remove, in [0, 1).") var sparsity: Double
    @Flag(help: "Remove whole units (output columns, filters) and shrink the next layer.") var structured = false
    @OptionGroup var options: CompressionReportOptions
    @Option(help: "With --eval-data (classification): the lowest accuracy to keep; the largest sparsity up to --sparsity that keeps it is written.")
    var minAccuracy: Double?
    @Option(help: ArgumentHelp("With --structured: features (a .npy array, or a .csv with its --label column) on which units are ranked and the next layers re-solved (default: --eval-data).", valueName: "file"))
    var calibration: String?
    @Flag(inversion: .prefixedNo, help: "With --structured and data: re-solve each layer that lost input channels by least squares on the data (no fine-tuning).")
    var reconstruct = true

    func run() throws { try exitTwoOnBadInput(prune) }

    private func prune() throws {
        guard sparsity >= 0, sparsity < 1 else { throw CLIError("--sparsity must be in [0, 1), got \(sparsity)") }
        guard minAccuracy == nil || (options.evalData != nil && options.task == .classification) else {
            throw CLIError("--min-accuracy needs --eval-data of a classifier")
        }
        let inURL = URL(fileURLWithPath: input), outURL = URL(fileURLWithPath: output)
        let dataset = try options.dataset()
        let proto = try ModelFile.read(inURL)
        let base = inURL.deletingLastPathComponent()
        var report = PruneReport(input: input, output: output, structured: structured, sparsity: sparsity)

        // With labelled data, units are ranked by what they pass on for that data (see StructuredPruning).
        let calibrationData = try calibration.map { try calibrationDataset($0, label: options.label) } ?? dataset
        let probe: StructuredPruning.ActivationProbe? = calibrationData.map { data in
            { model, names in
                // Beside the input, so external data resolves as it does for the input.
                let tmp = base.appendingPathComponent(".\(inURL.lastPathComponent).probe.\(getpid()).onnx")
                defer { try? FileManager.default.removeItem(at: tmp) }
                try model.serializedData().write(to: tmp)
                let outputs = try Evaluator(session: try Session(contentsOf: tmp)).run(data, batchSize: 256)
                return outputs.filter { names.contains($0.key) }
            }
        }

        // One pruning at sparsity `s`, written to `url`.
        func write(_ s: Double, to url: URL) throws {
            if structured {
                let r = try StructuredPruning.apply(proto, sparsity: s, baseDirectory: base, probe: probe, reconstruct: reconstruct)
                report.method = r.method
                report.reconstructed = r.reconstructed.map { .init(layer: $0.layer, mseBefore: $0.errorBefore, mseAfter: $0.errorAfter, applied: $0.applied) }
                report.pruned = r.pruned.map { .init(layer: $0.layer, before: $0.before, after: $0.after) }
                report.skipped = r.skipped.map { .init(node: $0.node, reason: $0.reason) }
                try ModelFile.write(r.model, to: url, input: inURL)
            } else {
                let r = try MagnitudePruning.apply(proto, sparsity: s, baseDirectory: base)
                report.zeroed = r.zeroed.map { .init(weight: $0.weight, zeros: $0.zeros, count: $0.count) }
                try ModelFile.write(r.model, to: url, input: inURL)
            }
        }

        if let minAccuracy, let dataset, let evalData = options.evalData {
            // Ascending sparsities; the largest that keeps the accuracy is written.
            var steps = stride(from: 0.1, to: sparsity - 1e-9, by: 0.1).map { ($0 * 10).rounded() / 10 } + [sparsity]
            steps = steps.filter { $0 > 0 }
            let tmp = outURL.deletingLastPathComponent().appendingPathComponent(".\(outURL.lastPathComponent).try.onnx")
            defer { try? FileManager.default.removeItem(at: tmp) }
            var best: Double?
            for s in steps {
                try write(s, to: tmp)
                let accuracy = (try CompressionMeasure.metrics(tmp, dataset, task: options.task, data: evalData)["accuracy"] ?? nil) ?? 0
                report.tried.append(.init(sparsity: s, accuracy: accuracy))
                if accuracy >= minAccuracy { best = s } else { break }
            }
            guard let best else {
                let first = report.tried.first.map { String(format: " (at sparsity %.2f: %.4f)", $0.sparsity, $0.accuracy) } ?? ""
                throw CLIError("no sparsity keeps accuracy ≥ \(minAccuracy)\(first); nothing written")
            }
            report.sparsity = best
        }
        try write(report.sparsity, to: outURL)
        report.sizeBefore = CompressionMeasure.fileSize(inURL)
        report.sizeAfter = CompressionMeasure.fileSize(outURL)
        (report.latency, report.metricsBefore, report.metricsAfter) = try options.measure(before: inURL, after: outURL, dataset: dataset)
        if options.json { try printJSON(report) } else { print(report.table) }
    }
}

/// Calibration features: a .npy array fed as it is (no labels needed), or a CSV as --eval-data reads
/// it (with --label naming the column to leave out).
private func calibrationDataset(_ path: String, label: String?) throws -> Dataset {
    let url = URL(fileURLWithPath: path)
    guard url.pathExtension.lowercased() == "npy" else { return try loadDataset(data: path, label: label, labels: nil) }
    let array: Tensor
    do { array = try NPY.read(contentsOf: url) } catch { throw CLIError("--calibration \(path): \(error)") }
    guard array.rank >= 1, array.shape[0] > 0 else { throw CLIError("--calibration \(path): no rows (shape \(array.shape))") }
    return try Dataset(source: path, array: array, labels: Column(name: "label", numbers: [Double](repeating: 0, count: array.shape[0])))
}

/// What `berth prune` prints.
struct PruneReport: Encodable {
    struct Layer: Encodable { var layer: String; var before: Int; var after: Int }
    struct Zeroed: Encodable { var weight: String; var zeros: Int; var count: Int }
    struct Skipped: Encodable { var node: String; var reason: String }
    struct Tried: Encodable { var sparsity: Double; var accuracy: Double }
    struct Reconstructed: Encodable {
        var layer: String; var mseBefore: Double; var mseAfter: Double; var applied: Bool
        enum CodingKeys: String, CodingKey { case layer, applied, mseBefore = "mse_before", mseAfter = "mse_after" }
    }

    var input: String, output: String, structured: Bool, sparsity: Double
    var sizeBefore = 0, sizeAfter = 0
    var pruned: [Layer] = []
    var zeroed: [Zeroed] = []
    var skipped: [Skipped] = []
    var tried: [Tried] = []
    var method: String?
    var reconstructed: [Reconstructed] = []
    var latency: [CompressionMeasure.Latency] = []
    var metricsBefore: [String: Double?]?
    var metricsAfter: [String: Double?]?

    enum CodingKeys: String, CodingKey {
        case input, output, structured, sparsity, pruned, zeroed, skipped, tried, latency, method, reconstructed
        case sizeBefore = "size_before", sizeAfter = "size_after", metricsBefore = "metrics_before", metricsAfter = "metrics_after"
    }

    var table: String {
        var lines = ["\(input) → \(output) (\(structured ? "structured" : "magnitude") pruning, sparsity \(sparsity))",
                     String(format: "size       %d → %d bytes (%.2fx smaller)", sizeBefore, sizeAfter, Double(sizeBefore) / Double(max(1, sizeAfter)))]
        lines += pruned.map { "pruned     \($0.layer): \($0.before) → \($0.after) units" }
        lines += zeroed.map { "zeroed     \($0.weight): \($0.zeros) of \($0.count)" }
        lines += skipped.map { "kept       \($0.node): \($0.reason)" }
        if let method { lines.append("method     \(method)") }
        lines += reconstructed.map {
            "re-solved  \($0.layer): output MSE \(String(format: "%.4g", $0.mseBefore)) → \(String(format: "%.4g", $0.mseAfter))"
                + ($0.applied ? "" : " (kept the sliced weights)")
        }
        lines += tried.map { String(format: "tried      sparsity %.2f: accuracy %.4f", $0.sparsity, $0.accuracy) }
        lines += latency.map(\.line)
        lines += CompressionMeasure.metricLines(metricsBefore, metricsAfter)
        return lines.joined(separator: "\n")
    }
}
