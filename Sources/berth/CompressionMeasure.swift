import ArgumentParser
import BerthEngine
import BerthEval
import BerthTensor
import Foundation

/// What `berth quantize` and `berth prune` measure of a model before and after: file size,
/// in-process latency at batch 1 and 32 (both models timed in this process on the same inputs)
/// and, given labelled data, the metrics.
enum CompressionMeasure {
    /// One batch size's median latency before and after.
    struct Latency: Encodable {
        var batch: Int
        var beforeP50: Double
        var afterP50: Double
        enum CodingKeys: String, CodingKey { case batch, beforeP50 = "before_p50_ms", afterP50 = "after_p50_ms" }

        var line: String {
            String(format: "batch %-4d p50 %.3f ms → %.3f ms (%.2fx)", batch, beforeP50, afterP50, beforeP50 / max(1e-9, afterP50))
        }
    }

    static func fileSize(_ url: URL) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: url.path)[.size]) as? NSNumber)?.intValue ?? 0
    }

    /// Latency at batch 1 and 32 of both files, `iterations` timed runs each.
    static func latency(before: URL, after: URL, iterations: Int) throws -> [Latency] {
        let a = try Session(contentsOf: before), b = try Session(contentsOf: after)
        return try [1, 32].map { batch in
            let feeds = try a.sampleInputs(batch: batch)
            return Latency(batch: batch, beforeP50: try p50(a, feeds, iterations), afterP50: try p50(b, feeds, iterations))
        }
    }

    /// Median latency of `iterations` runs (after two warm-up runs), in milliseconds.
    static func p50(_ session: Session, _ feeds: [String: Tensor], _ iterations: Int) throws -> Double {
        for _ in 0..<2 { _ = try session.run(feeds) }
        var times: [Double] = []
        for _ in 0..<iterations {
            let t0 = DispatchTime.now().uptimeNanoseconds
            _ = try session.run(feeds)
            times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
        }
        return LatencyStats(times).p50
    }

    /// `berth eval`'s metrics of the model at `url` on `dataset`.
    static func metrics(_ url: URL, _ dataset: Dataset, task: EvalTask, data: String) throws -> [String: Double?] {
        try Evaluator(contentsOf: url).evaluate(dataset, options: .init(task: task), model: url.path, data: data).0.metrics
    }

    /// The before → after lines of the metrics both reports share.
    static func metricLines(_ before: [String: Double?]?, _ after: [String: Double?]?) -> [String] {
        guard let before, let after else { return [] }
        return before.keys.sorted().compactMap { name in
            guard let b = before[name] ?? nil, let a = after[name] ?? nil else { return nil }
            return String(format: "%-10@ %.4f → %.4f (%+.4f)", name as NSString, b, a, a - b)
        }
    }
}

/// The options `berth optimize`, `quantize` and `prune` share for their before/after report.
struct CompressionReportOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Labelled data for the accuracy report (.npy or .csv, as berth eval reads it).", valueName: "file"))
    var evalData: String?
    @Option(help: ArgumentHelp("With --eval-data: the label column (CSV) or column index (.npy).", valueName: "column"))
    var label: String?
    @Option(help: ArgumentHelp("With .npy --eval-data: the labels file.", valueName: "file.npy")) var labels: String?
    @Option(help: "With --eval-data: classification or regression.") var task: EvalTask = .classification
    @Option(help: "Timed runs per model and batch size for the latency report (0: skip it).") var iterations = 30
    @Flag(help: "Print the report as JSON.") var json = false

    /// Checks the combination; loads the labelled data (before anything is written).
    func dataset() throws -> Dataset? {
        guard iterations >= 0 else { throw CLIError("--iterations must be 0 or more") }
        guard labels == nil && label == nil || evalData != nil else { throw CLIError("--label and --labels go with --eval-data") }
        return try evalData.map { try loadDataset(data: $0, label: label, labels: labels) }
    }

    /// Latency and metrics of `before` and `after`, as the options ask.
    func measure(before: URL, after: URL, dataset: Dataset?) throws
        -> (latency: [CompressionMeasure.Latency], metricsBefore: [String: Double?]?, metricsAfter: [String: Double?]?) {
        let latency = iterations > 0 ? try CompressionMeasure.latency(before: before, after: after, iterations: iterations) : []
        guard let dataset, let evalData else { return (latency, nil, nil) }
        return (latency, try CompressionMeasure.metrics(before, dataset, task: task, data: evalData),
                try CompressionMeasure.metrics(after, dataset, task: task, data: evalData))
    }
}
