import BerthONNX
import Foundation

/// Class labels the model file names itself, for the classification extension when
/// config.pbtxt gives an output no `label_filename` (registry models have no config.pbtxt).
extension Servable {
    /// Classifier nodes of `ai.onnx.ml` whose second output is the per-class scores, in the
    /// order of their `classlabels_*` attribute (what skl2onnx and onnxmltools write).
    static let classifierOps: Set<String> = ["LinearClassifier", "SVMClassifier", "TreeEnsembleClassifier"]
    /// Ops that keep the class columns where they are (skl2onnx puts a Normalizer or a Cast
    /// between the classifier and the graph output).
    static let columnPreservingOps: Set<String> = ["Identity", "Cast", "Normalizer", "Softmax", "Sigmoid"]

    /// Output name → labels, from (in order of precedence) `metadata_props["labels"]` — a JSON
    /// object mapping output names to label arrays, or one JSON array for every output — and
    /// the `classlabels_strings` / `classlabels_int64s` of a classifier node whose scores output
    /// is a graph output. Anything else (malformed metadata) gives no labels: the extension then
    /// answers "score:index", as Triton does without a label file.
    static func modelLabels(_ model: Model) -> [String: [String]] {
        var labels: [String: [String]] = [:]
        let graphOutputs = Set(model.graph.outputs.map(\.name))
        let nodes = model.graph.nodes
        for node in nodes where node.canonicalDomain == "ai.onnx.ml" && classifierOps.contains(node.opType) {
            guard node.outputs.count > 1 else { continue }
            // Follow the scores through single-consumer, column-preserving nodes to a graph output.
            var scores = node.outputs[1]
            for _ in 0..<nodes.count where !graphOutputs.contains(scores) {
                let consumers = nodes.filter { $0.inputs.contains(scores) }
                guard consumers.count == 1, let next = consumers.first, next.inputs.first == scores,
                      columnPreservingOps.contains(next.opType), let out = next.outputs.first else { break }
                scores = out
            }
            guard graphOutputs.contains(scores) else { continue }
            switch node.attributes["classlabels_strings"] ?? node.attributes["classlabels_int64s"] {
            case let .strings(names)?: labels[scores] = names
            case let .ints(ids)?: labels[scores] = ids.map(String.init)
            default: break
            }
        }
        guard let text = model.metadata["labels"], let json = try? JSONSerialization.jsonObject(with: Data(text.utf8)) else {
            return labels
        }
        if let all = json as? [String] {
            for name in graphOutputs { labels[name] = all }
        } else if let perOutput = json as? [String: Any] {
            for (name, value) in perOutput {
                if let list = value as? [String], graphOutputs.contains(name) { labels[name] = list }
            }
        }
        return labels
    }
}
