import ArgumentParser
import BerthEngine
import BerthTensor
import Foundation

/// `berth run`: one inference from .npy files (or random inputs), outputs written as .npy.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a model once on .npy inputs and write each output as .npy.",
        discussion: """
        Example: berth run examples/digits_mlp.onnx --input input=examples/digits_sample.npy --output-dir out
        Each output is written to <output-dir>/<output name>.npy and summarised on stdout.
        """
    )

    @Argument(help: "Path to an .onnx file.")
    var model: String

    @Option(name: .customLong("input"), help: ArgumentHelp("An input as NAME=FILE.npy; repeat for each model input.", valueName: "name=file"))
    var inputs: [String] = []

    @Flag(help: "Feed random inputs built from the model's metadata instead of files.")
    var random = false

    @Option(help: "With --random: the size of the first symbolic (batch) dimension.")
    var batch = 1

    @Option(name: .customLong("dim"), help: ArgumentHelp("With --random: a symbolic dimension's size as NAME=VALUE.", valueName: "name=value"))
    var dims: [String] = []

    @Option(help: "Folder to write <output name>.npy files into (created if missing).")
    var outputDir: String?

    @Option(help: "Intra-op threads (default: all cores).")
    var threads: Int?

    @Flag(help: "Disable graph optimizations (constant folding, identity elimination).")
    var noOptimize = false

    func run() throws { try exitTwoOnBadInput(runOnce) }

    private func runOnce() throws {
        var options = SessionOptions(optimize: !noOptimize)
        if let threads { options.intraOpThreads = threads }
        let session = try Session(contentsOf: URL(fileURLWithPath: model), options: options)
        var feeds: [String: Tensor] = [:]
        if random {
            let named = try parsePairs(dims, what: "--dim").reduce(into: [String: Int]()) { acc, p in
                guard let v = Int(p.1), v > 0 else { throw CLIError("--dim \(p.0): '\(p.1)' is not a positive integer") }
                acc[p.0] = v
            }
            feeds = try session.sampleInputs(batch: batch, dims: named)
        }
        for (name, path) in try parsePairs(inputs, what: "--input") {
            do { feeds[name] = try NPY.read(contentsOf: URL(fileURLWithPath: path)) } catch {
                throw CLIError("--input \(name): cannot read \(path): \(error)")
            }
        }
        if feeds.isEmpty && !session.inputs.isEmpty {
            throw CLIError("no inputs given; pass --input NAME=FILE.npy for \(session.inputs.map(\.name).joined(separator: ", ")) or --random")
        }
        let start = DispatchTime.now().uptimeNanoseconds
        let outputs = try session.run(feeds)
        let ms = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        if let outputDir {
            try FileManager.default.createDirectory(atPath: outputDir, withIntermediateDirectories: true)
        }
        for info in session.outputs {
            guard let t = outputs[info.name] else { continue }
            print("\(info.name): \(t)")
            if let outputDir {
                let safe = info.name.map { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" || $0 == "." ? $0 : "_" }
                try NPY.write(t).write(to: URL(fileURLWithPath: outputDir).appendingPathComponent(String(safe) + ".npy"))
            }
        }
        print(String(format: "ran in %.3f ms", ms))
    }
}
