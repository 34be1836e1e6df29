import BerthONNX
import BerthTensor

/// Finds which class each column of a classifier's probability output stands for, from the
/// model file: the `classlabels_*` attribute of the ZipMap or classifier node (LinearClassifier,
/// TreeEnsembleClassifier, SVMClassifier ...), or the class table an ArrayFeatureExtractor reads
/// (skl2onnx's MLPClassifier maps ArgMax through one).
public enum ClassOrder {
    /// Where the class order came from, for the report.
    public enum Source: String, Sendable, Codable {
        /// The ZipMap node's `classlabels_*`.
        case zipMap = "zipmap"
        /// A classifier node's `classlabels_*` (LinearClassifier, TreeEnsembleClassifier ...).
        case classifier
        /// The constant class table an ArrayFeatureExtractor indexes.
        case classTable = "class_table"
        /// Not in the file: column k is class k, or the order the label output implies.
        case columnIndex = "column_index"
    }

    /// The classes of the `columns` probability columns, in column order, and where they were
    /// found; `0 ..< columns` when the file does not say.
    public static func classes(in graph: Graph, probabilityOutput: String?, columns: Int) -> ([ClassLabel], Source) {
        let producers = Dictionary(graph.nodes.flatMap { n in n.outputs.map { ($0, n) } }, uniquingKeysWith: { a, _ in a })
        // 1. The node that makes the probability output, through pass-through nodes.
        var name = probabilityOutput
        var hops = 0
        while let n = name.flatMap({ producers[$0] }), hops < 16 {
            if let labels = labels(of: n), labels.count == columns {
                return (labels, n.opType == "ZipMap" ? .zipMap : .classifier)
            }
            guard ["Identity", "Cast", "Normalizer", "Softmax", "ZipMap"].contains(n.opType), let input = n.inputs.first else { break }
            name = input
            hops += 1
        }
        // 2. Any classifier or ZipMap node with the right number of classes.
        for n in graph.nodes {
            if let labels = labels(of: n), labels.count == columns {
                return (labels, n.opType == "ZipMap" ? .zipMap : .classifier)
            }
        }
        // 3. A constant class table that an ArrayFeatureExtractor indexes.
        for n in graph.nodes where n.opType == "ArrayFeatureExtractor" {
            guard let table = n.inputs.first.flatMap({ graph.initializers[$0] }), table.rank == 1,
                  table.count == columns, let labels = labels(of: table) else { continue }
            return (labels, .classTable)
        }
        return ((0..<columns).map { .number(Double($0)) }, .columnIndex)
    }

    /// A node's `classlabels_strings`, `classlabels_int64s` or `classlabels_ints`.
    static func labels(of node: Node) -> [ClassLabel]? {
        if let s = try? node.strings("classlabels_strings"), !s.isEmpty { return s.map(ClassLabel.string) }
        for key in ["classlabels_int64s", "classlabels_ints"] {
            if let v = try? node.ints(key), !v.isEmpty { return v.map { .number(Double($0)) } }
        }
        return nil
    }

    /// A 1-D tensor's values as labels (strings or numbers).
    static func labels(of t: Tensor) -> [ClassLabel]? {
        if case let .string(v) = t.storage { return v.map(ClassLabel.string) }
        if t.dtype == .bool { return nil }
        return (0..<t.count).map { .number(t.storage.double(at: $0)) }
    }
}
