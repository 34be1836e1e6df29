import ArgumentParser
import BerthEngine
import BerthTensor
import Foundation

/// `berth perf`: in-process latency of `Session.run`, like onnxruntime_perf_test.
struct PerfCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "perf",
        abstract: "Time Session.run on random inputs: mean/p50/p90/p99 latency and rows/s.",
        discussion: "Inputs are random, built from the model's metadata; the first symbolic dimension is the batch."
    )

    @Argument(help: "Path to an .onnx file, or a .gguf language model (prefill and decode tokens/s).")
    var model: String

    @Option(help: "Batch size: the size of the first symbolic dimension.")
    var batch = 1

    @Option(help: "Intra-op threads.")
    var threads = 1

    @Option(help: "Timed iterations.")
    var iterations = 100

    @Option(help: "Untimed warm-up iterations.")
    var warmup = 5

    @Option(name: .customLong("dim"), help: ArgumentHelp("A symbolic dimension's size as NAME=VALUE.", valueName: "name=value"))
    var dims: [String] = []

    @Option(help: "Upper bound (exclusive) for random integer inputs such as token ids.")
    var intRange = 10

    @Option(help: "GGUF: prompt tokens run as one prefill chunk.")
    var promptTokens = 128

    @Option(help: "GGUF: tokens decoded one at a time after the prompt.")
    var decodeTokens = 64

    @Option(help: "GGUF: timed prefill + decode runs (the median is reported).")
    var runs = 3

    @Flag(help: "Disable graph optimizations.")
    var noOptimize = false

    @Flag(help: "Print one JSON object (mean_ms, p50_ms, p90_ms, p99_ms, throughput, peak_rss_mb; with --profile, profile).")
    var json = false

    @Flag(help: "After the timed runs, run the iterations again with each node timed and print the time per operator type and the slowest nodes (like ONNX Runtime's profiler).")
    var profile = false

    func validate() throws {
        guard batch > 0, threads > 0, iterations > 0, warmup >= 0 else {
            throw ValidationError("--batch, --threads and --iterations must be positive, --warmup not negative")
        }
    }

    func run() throws { try exitTwoOnBadInput(measure) }

    private func measure() throws {
        if Self.isGGUF(model) { return try measureLanguageModel() }
        let session = try Session(contentsOf: URL(fileURLWithPath: model),
                                  options: SessionOptions(intraOpThreads: threads, optimize: !noOptimize))
        let named = try parsePairs(dims, what: "--dim").reduce(into: [String: Int]()) { acc, p in
            guard let v = Int(p.1), v > 0 else { throw CLIError("--dim \(p.0): '\(p.1)' is not a positive integer") }
            acc[p.0] = v
        }
        let feeds = try session.sampleInputs(batch: batch, dims: named, intRange: intRange)
        for _ in 0..<warmup { _ = try session.run(feeds) }
        var times: [Double] = []
        times.reserveCapacity(iterations)
        for _ in 0..<iterations {
            let t0 = DispatchTime.now().uptimeNanoseconds
            _ = try session.run(feeds)
            times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
        }
        let stats = LatencyStats(times)
        let throughput = Double(batch) / (stats.mean / 1000)
        // Read before profiling, so the figure is the plain runs' high-water mark.
        let peak = PeakMemory.residentMegabytes()
        var profiled: OpProfile?
        if profile {
            let p = OpProfile()
            for _ in 0..<iterations { _ = try session.run(feeds, profile: p) }
            profiled = p
        }
        if json {
            var out = String(format: "{\"mean_ms\": %.6f, \"p50_ms\": %.6f, \"p90_ms\": %.6f, \"p99_ms\": %.6f, \"throughput\": %.3f, \"batch\": %d, \"threads\": %d, \"iterations\": %d, \"peak_rss_mb\": %.1f",
                             stats.mean, stats.p50, stats.p90, stats.p99, throughput, batch, threads, iterations, peak ?? -1)
            if let profiled { out += ", \"profile\": " + ProfileTable(profiled, runs: iterations).json }
            print(out + "}")
        } else {
            print("model \(model)  batch \(batch)  threads \(threads)  iterations \(iterations)")
            print("kernels \(KernelBackends.summary)")
            print(String(format: "mean %.3f ms  p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  %.1f rows/s",
                         stats.mean, stats.p50, stats.p90, stats.p99, throughput))
            if let peak { print(String(format: "peak resident memory %.1f MB", peak)) }
            if threads > 1 {
                // The pool's measure of how far apart its cores are (ThreadPool.handOffNanos).
                let pool = ThreadPool.shared(threads: threads)
                print("thread hand-off \(pool.handOffNanos) ns\(pool.coresFarApart ? " (cores far apart: small convolutions run whole)" : "")")
            }
            if let profiled { print(ProfileTable(profiled, runs: iterations).text) }
        }
    }
}

/// Mean and nearest-rank percentiles of latency samples in milliseconds.
struct LatencyStats {
    var mean: Double, p50: Double, p90: Double, p99: Double

    init(_ samples: [Double]) {
        let s = samples.sorted()
        func pct(_ p: Double) -> Double {
            guard !s.isEmpty else { return 0 }
            let rank = Int((p / 100 * Double(s.count)).rounded(.up))
            return s[min(s.count - 1, max(0, rank - 1))]
        }
        mean = s.isEmpty ? 0 : s.reduce(0, +) / Double(s.count)
        p50 = pct(50); p90 = pct(90); p99 = pct(99)
    }
}
