import ArgumentParser
import BerthEngine
import BerthONNX
import BerthTensor
import Foundation

/// `berth inspect`: what a model file holds, without running it.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show a model's inputs, outputs, opsets, operators, parameter count and size.",
        discussion: "Also reports operators Berth cannot run, so a model can be checked before it is deployed."
    )

    @Argument(help: "Path to an .onnx file.")
    var model: String

    @Flag(help: "Print JSON instead of text.")
    var json = false

    func run() throws { try exitTwoOnBadInput(inspect) }

    private func inspect() throws {
        let url = URL(fileURLWithPath: model)
        let m = try ModelReader.read(contentsOf: url)
        let size = (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0
        var histogram: [String: Int] = [:]
        for n in m.graph.nodes { histogram[(n.domain.isEmpty ? "" : n.domain + "::") + n.opType, default: 0] += 1 }
        let params = m.graph.initializers.values.reduce(0) { $0 + $1.count }
        let registry = KernelRegistry.standard
        let unsupported = Set(m.graph.allNodes.filter { registry.factory(domain: $0.domain, op: $0.opType, opset: m.opset(for: $0.domain) ?? 0) == nil }
            .map { "\($0.canonicalDomain)::\($0.opType)" }).sorted()
        if json {
            let report = InspectReport(
                irVersion: m.irVersion,
                producer: "\(m.producerName) \(m.producerVersion)".trimmingCharacters(in: .whitespaces),
                opsets: m.opsetImports.reduce(into: [String: Int]()) { $0[$1.key.isEmpty ? "ai.onnx" : $1.key] = $1.value },
                inputs: m.graph.inputs.map(InspectReport.Value.init), outputs: m.graph.outputs.map(InspectReport.Value.init),
                operators: histogram, nodes: m.graph.nodes.count, parameters: params, fileBytes: size,
                unsupportedOperators: unsupported)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
            return
        }
        print("model:      \(url.lastPathComponent) (\(formatBytes(size)))")
        print("producer:   \(m.producerName) \(m.producerVersion)  ir_version \(m.irVersion)")
        print("opsets:     " + m.opsetImports.sorted { $0.key < $1.key }.map { "\($0.key.isEmpty ? "ai.onnx" : $0.key) \($0.value)" }.joined(separator: ", "))
        print("inputs:")
        for i in m.graph.inputs { print("  \(i)") }
        print("outputs:")
        for o in m.graph.outputs { print("  \(o)") }
        print("parameters: \(params) in \(m.graph.initializers.count) initializers")
        print("operators:  \(m.graph.nodes.count) nodes")
        for (op, n) in histogram.sorted(by: { ($1.value, $0.key) < ($0.value, $1.key) }) {
            print("  \(op.padding(toLength: max(op.count, 28), withPad: " ", startingAt: 0)) \(n)")
        }
        if !unsupported.isEmpty { print("unsupported: \(unsupported.joined(separator: ", "))") }
    }
}

func formatBytes(_ n: Int) -> String {
    if n >= 1 << 20 { return String(format: "%.1f MiB", Double(n) / Double(1 << 20)) }
    if n >= 1 << 10 { return String(format: "%.1f KiB", Double(n) / Double(1 << 10)) }
    return "\(n) B"
}
