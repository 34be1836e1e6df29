import BerthEngine
import BerthONNX
import BerthTensor
import Foundation

/// Evaluates nodes whose inputs are all initializers (and Constant nodes) once, with Berth's own
/// kernels, and stores their outputs as initializers: what ONNX Runtime's constant folding does
/// at load, done in the file. Random ops, nodes with subgraphs and outputs above `maxBytes`
/// (folding must not bloat the file) are left alone.
struct ConstantFolding: GraphPass {
    let name = "constant folding"
    /// Largest folded output kept, in bytes.
    var maxBytes = 16 << 20
    static let nondeterministic: Set<String> = ["RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike",
                                                "Bernoulli", "Multinomial", "Dropout"]

    func apply(_ graph: inout Onnx_GraphProto, _ context: PassContext) throws -> Int {
        var model = Onnx_ModelProto()
        model.irVersion = 8
        var opset = Onnx_OperatorSetIdProto()
        opset.version = context.opset
        model.opsetImport = [opset]
        let outputs = Set(graph.output.map(\.name))
        var constants = Dictionary(graph.initializer.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        // Graph inputs that are also initializers can be overridden by a caller: not constants.
        for input in graph.input { constants[input.name] = nil }
        var folded = 0
        var i = 0
        while i < graph.node.count {
            let n = graph.node[i]
            guard n.domain.isEmpty, !n.hasSubgraph, !Self.nondeterministic.contains(n.opType), !n.output.isEmpty,
                  n.input.allSatisfy({ $0.isEmpty || constants[$0] != nil }),
                  !n.output.contains(where: { outputs.contains($0) }),
                  let values = evaluate(n, constants: constants, model: model, context: context) else {
                i += 1
                continue
            }
            for (name, tensor) in values {
                let proto = Onnx_TensorProto.make(name, tensor)
                graph.initializer.append(proto)
                constants[name] = proto
            }
            graph.valueInfo.removeAll { n.output.contains($0.name) }
            graph.node.remove(at: i)
            folded += 1
        }
        return folded
    }

    /// The node's outputs, or nil when it cannot be evaluated here (unsupported, too large).
    private func evaluate(_ n: Onnx_NodeProto, constants: [String: Onnx_TensorProto], model: Onnx_ModelProto,
                          context: PassContext) -> [(String, Tensor)]? {
        var m = model
        var g = Onnx_GraphProto()
        g.name = "fold"
        g.node = [n]
        g.initializer = n.input.filter { !$0.isEmpty }.compactMap { constants[$0] }
        g.output = n.output.filter { !$0.isEmpty }.map { name in var v = Onnx_ValueInfoProto(); v.name = name; return v }
        m.graph = g
        guard let data = try? m.serializedData(),
              // Bounded before allocating: a shape from the file (ConstantOfShape, Expand, Tile, Range)
              // may ask for any size, and no output over `maxBytes` would be kept anyway.
              let session = try? Session(data: data, options: SessionOptions(intraOpThreads: 1, optimize: false,
                                                                              limits: RunLimits(maxTensorElements: maxBytes))),
              let out = try? session.run([:]) else { return nil }
        var result: [(String, Tensor)] = []
        for name in n.output where !name.isEmpty {
            guard let t = out[name], t.count * max(1, t.dtype == .string ? 16 : t.dtype.byteSize) <= maxBytes else { return nil }
            result.append((name, t))
        }
        return result
    }
}
