import BerthONNX
import Foundation

/// One rewrite of an ONNX graph at the protobuf level, written back as standard ONNX (ops of the
/// default domain only, so ONNX Runtime runs the result). Returns how many rewrites it made.
protocol GraphPass {
    /// The name the report shows.
    var name: String { get }
    func apply(_ graph: inout Onnx_GraphProto, _ context: PassContext) throws -> Int
}

/// What passes share: the model's opset, the folder external data lives in, fresh names.
final class PassContext {
    let opset: Int64
    let baseDirectory: URL?
    private var taken: Set<String>

    init(model: Onnx_ModelProto, baseDirectory: URL?) {
        opset = model.opsetImport.first { $0.domain.isEmpty || $0.domain == "ai.onnx" }?.version ?? 0
        self.baseDirectory = baseDirectory
        var names = Set<String>()
        func collect(_ g: Onnx_GraphProto) {
            names.formUnion(g.initializer.map(\.name))
            names.formUnion(g.input.map(\.name))
            for n in g.node {
                names.formUnion(n.output)
                names.insert(n.name)
                for a in n.attribute { for sub in (a.hasG ? [a.g] : []) + a.graphs { collect(sub) } }
            }
        }
        collect(model.graph)
        taken = names
    }

    /// A name no tensor, node or subgraph value of the model has.
    func fresh(_ base: String) -> String {
        var name = base, k = 1
        while taken.contains(name) { k += 1; name = "\(base)_\(k)" }
        taken.insert(name)
        return name
    }
}

extension Onnx_GraphProto {
    /// How many times each name is read: node inputs here and in subgraphs (which may read outer
    /// names), and graph outputs.
    var readCounts: [String: Int] {
        var counts: [String: Int] = [:]
        func collect(_ g: Onnx_GraphProto) {
            for n in g.node {
                for i in n.input where !i.isEmpty { counts[i, default: 0] += 1 }
                for a in n.attribute { for sub in (a.hasG ? [a.g] : []) + a.graphs { collect(sub) } }
            }
            for o in g.output { counts[o.name, default: 0] += 1 }
        }
        collect(self)
        return counts
    }

    /// Replaces every read of `old` with `new`, in subgraphs too (graph outputs are not renamed).
    mutating func renameReads(of old: String, to new: String) {
        func rename(_ g: inout Onnx_GraphProto) {
            for i in g.node.indices {
                for j in g.node[i].input.indices where g.node[i].input[j] == old { g.node[i].input[j] = new }
                for k in g.node[i].attribute.indices {
                    if g.node[i].attribute[k].hasG { rename(&g.node[i].attribute[k].g) }
                    for s in g.node[i].attribute[k].graphs.indices { rename(&g.node[i].attribute[k].graphs[s]) }
                }
            }
        }
        rename(&self)
    }

    /// The initializer named `name`, if any.
    func initializer(_ name: String) -> Onnx_TensorProto? { initializer.first { $0.name == name } }
}

extension Onnx_NodeProto {
    func attr(_ name: String) -> Onnx_AttributeProto? { attribute.first { $0.name == name } }
    var label: String { name.isEmpty ? "\(opType) → \(output.first ?? "?")" : name }
    /// Whether the node carries a subgraph (If, Loop, Scan).
    var hasSubgraph: Bool { attribute.contains { $0.hasG || !$0.graphs.isEmpty } }
}
