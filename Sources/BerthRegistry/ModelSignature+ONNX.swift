import BerthProtocol
import BerthONNX
import Foundation

extension ModelSignature {
    /// Reads the inputs and outputs of an ONNX file. The whole model is decoded (so a truncated
    /// or corrupt file is refused here, not when it is first served). External data is refused:
    /// the registry stores one self-contained file per version.
    public init(onnxFile url: URL) throws {
        // A GGUF file (a language model) is recognised by its magic; both registries push through here.
        if Self.isGGUF(file: url) {
            try self.init(ggufFile: url)
            return
        }
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw RegistryError.badInput("cannot read \(url.path): \(error.localizedDescription)")
        }
        guard !data.isEmpty else { throw RegistryError.invalidModel("the file is empty") }
        let model: Model
        do { model = try ModelReader.read(data, baseDirectory: nil) } catch {
            let why = "\(error)"
            let prefix = "not a valid ONNX model: "
            throw RegistryError.invalidModel(why.hasPrefix(prefix) ? String(why.dropFirst(prefix.count)) : why)
        }
        let graph = model.graph
        guard !graph.outputs.isEmpty else { throw RegistryError.invalidModel("the graph has no outputs") }
        let initialized = Set(graph.initializers.keys)
        // Inputs that have an initializer are constants with defaults, not something clients send.
        self.init(inputs: graph.inputs.filter { !initialized.contains($0.name) }.map(Self.spec),
                  outputs: graph.outputs.map(Self.spec))
    }

    private static func spec(_ info: ValueInfo) -> TensorSpec {
        TensorSpec(name: info.name, datatype: info.dtype?.v2Name ?? "FP32",
                   shape: (info.shape ?? []).map { d in if case let .fixed(n) = d { return n } else { return -1 } })
    }
}

/// Reads the metrics a push records: the `metrics` object of `berth eval --json`, or a JSON
/// object of numbers. Undefined (null) metrics are left out.
public enum MetricsFile {
    private struct EvalReport: Decodable { var metrics: [String: Double?]? }

    /// Metric name → value from either shape; anything else throws ``RegistryError/badInput(_:)``.
    public static func parse(_ data: Data) throws -> [String: Double] {
        let decoder = JSONDecoder()
        let metrics: [String: Double?]
        if let report = try? decoder.decode(EvalReport.self, from: data), let m = report.metrics {
            metrics = m
        } else {
            do { metrics = try decoder.decode([String: Double?].self, from: data) } catch {
                throw RegistryError.badInput("the metrics must be a JSON object of numbers or `berth eval --json` output")
            }
        }
        return metrics.compactMapValues { $0 }
    }
}
