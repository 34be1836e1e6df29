import ArgumentParser
import BerthEngine
import BerthEval
import BerthOptimize
import BerthTensor
import Foundation

/// `berth quantize`: int8 weights written as standard ONNX, with a report of what it gained and lost.
struct QuantizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quantize",
        abstract: "Quantize a model's MatMul/Gemm/Conv weights to int8 (ONNX Runtime's formats) and report size, latency and accuracy.",
        discussion: """
            --mode dynamic: weights become symmetric int8 (per tensor, or per output column with --per-channel); \
            activations are quantized per request by DynamicQuantizeLinear, so no calibration data is needed. \
            The output is standard ONNX (DynamicQuantizeLinear + MatMulInteger, ConvInteger for Conv with per-tensor \
            weights) that ONNX Runtime runs too. \
            --mode static: activations get a scale and zero point calibrated on --calibration DATA.npy (rows of \
            the model's input; --calibrate minmax, percentile or entropy) and the model is written in the QDQ format \
            (QuantizeLinear/DequantizeLinear around each MatMul/Gemm/Conv, signed int8 activations and weights); \
            --reduce-range (either mode) uses 7-bit weights ([-63, 63], as ONNX Runtime's reduce_range) for CPUs without VNNI, \
            where Berth then runs them on oneDNN's int8 kernels (exact: the 16-bit pair sums cannot saturate). \
            The report gives the file size, Berth's in-process latency at batch 1 and 32 before and after (same run) \
            and, with --eval-data, the metrics before and after (data as berth eval reads it). \
            Exit status: 0 on success, 2 on bad input (nothing quantizable, unreadable model); the output file \
            is written only on success.
            """)

    @Argument(help: "The .onnx model to quantize.") var input: String
    @Argument(help: "Where to write the quantized model.") var output: String
    @Option(help: "dynamic or static.") var mode = "dynamic"
    @Option(help: ArgumentHelp("With --mode static: rows of the model's input (.npy) to calibrate activation ranges on.", valueName: "file.npy"))
    var calibration: String?
    @Option(name: [.customLong("calibrate"), .customLong("calibration-method")], help: "With --mode static: minmax, percentile or entropy.")
    var calibrate = "minmax"
    @Flag(help: "7-bit weights (CPUs without VNNI).") var reduceRange = false
    @Flag(help: "One scale per output column instead of one per weight matrix.") var perChannel = false
    @OptionGroup var options: CompressionReportOptions

    func run() throws { try exitTwoOnBadInput(quantize) }

    private func quantize() throws {
        guard mode == "dynamic" || mode == "static" else { throw CLIError("--mode must be dynamic or static, got '\(mode)'") }
        guard (mode == "static") == (calibration != nil) else {
            throw CLIError(mode == "static" ? "--mode static needs --calibration DATA.npy" : "--calibration goes with --mode static")
        }
        guard let method = Calibration.Method(rawValue: calibrate) else { throw CLIError("--calibrate must be minmax, percentile or entropy") }
        let inURL = URL(fileURLWithPath: input), outURL = URL(fileURLWithPath: output)
        // Data problems are found before anything is written.
        let dataset = try options.dataset()
        let proto = try ModelFile.read(inURL)
        let base = inURL.deletingLastPathComponent()
        let result: DynamicQuantization.Result
        if let calibration {
            let data: Tensor
            do { data = try NPY.read(try Data(contentsOf: URL(fileURLWithPath: calibration))) } catch {
                throw CLIError("--calibration \(calibration): \(error)")
            }
            result = try StaticQuantization.apply(proto, calibration: data,
                                                  options: .init(perChannel: perChannel, method: method, reduceRange: reduceRange),
                                                  baseDirectory: base)
        } else {
            result = try DynamicQuantization.apply(proto, options: .init(perChannel: perChannel, reduceRange: reduceRange), baseDirectory: base)
        }
        try ModelFile.write(result.model, to: outURL, input: inURL)
        var report = QuantizeReport(input: input, output: output, mode: mode, perChannel: perChannel,
                                    sizeBefore: CompressionMeasure.fileSize(inURL), sizeAfter: CompressionMeasure.fileSize(outURL),
                                    quantized: result.quantized, skipped: result.skipped.map { .init(node: $0.node, reason: $0.reason) })
        (report.latency, report.metricsBefore, report.metricsAfter) = try options.measure(before: inURL, after: outURL, dataset: dataset)
        if options.json { try printJSON(report) } else { print(report.table) }
    }
}

/// What `berth quantize` prints.
struct QuantizeReport: Encodable {
    struct Skipped: Encodable { var node: String; var reason: String }

    var input: String, output: String, mode: String, perChannel: Bool
    var sizeBefore: Int, sizeAfter: Int
    var quantized: [String]
    var skipped: [Skipped]
    var latency: [CompressionMeasure.Latency] = []
    var metricsBefore: [String: Double?]?
    var metricsAfter: [String: Double?]?

    enum CodingKeys: String, CodingKey {
        case input, output, mode, quantized, skipped, latency
        case perChannel = "per_channel", sizeBefore = "size_before", sizeAfter = "size_after"
        case metricsBefore = "metrics_before", metricsAfter = "metrics_after"
    }

    var table: String {
        var lines = ["\(input) → \(output) (\(mode), \(perChannel ? "per-channel" : "per-tensor") int8 weights)",
                     String(format: "size       %d → %d bytes (%.2fx smaller)", sizeBefore, sizeAfter,
                            Double(sizeBefore) / Double(max(1, sizeAfter))),
                     "quantized  \(quantized.count) node(s): \(quantized.joined(separator: ", "))"]
        for s in skipped { lines.append("skipped    \(s.node): \(s.reason)") }
        lines += latency.map(\.line)
        lines += CompressionMeasure.metricLines(metricsBefore, metricsAfter)
        return lines.joined(separator: "\n")
    }
}
