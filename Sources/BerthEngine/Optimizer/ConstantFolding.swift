import BerthONNX
import BerthTensor

/// Evaluates nodes whose inputs are all initializers once at load time and stores their outputs
/// as initializers (e.g. weight transposes, shape arithmetic). Precondition: the node is
/// deterministic, so random ops are never folded.
struct ConstantFolding: OptimizerPass {
    let name = "constant-folding"
    /// Ops whose result changes between runs (Dropout: in training mode).
    static let nondeterministic: Set<String> = ["RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial", "Bernoulli", "Dropout"]

    func apply(_ graph: Graph, context: OptimizerContext) throws -> Graph {
        var g = graph
        var constants = graph.initializers
        var kept: [Node] = []
        let inputNames = Set(graph.inputs.map(\.name))
        for n in graph.nodes {
            let foldable = !Self.nondeterministic.contains(n.opType)
                && n.inputs.allSatisfy { $0.isEmpty || constants[$0] != nil }
                && !n.outputs.contains(where: { inputNames.contains($0) })
                && n.attributes.values.allSatisfy { if case .graph = $0 { return false }; return true }
            guard foldable,
                  let factory = context.registry.factory(domain: n.domain, op: n.opType, opset: context.opsetFor(n.domain) ?? 0),
                  let kernel = try? factory(n, context.opsetFor(n.domain) ?? 0),
                  let results = try? kernel(n.inputs.map { $0.isEmpty ? nil : constants[$0] }, KernelContext(pool: context.pool)),
                  results.count >= n.outputs.filter({ !$0.isEmpty }).count
            else {
                // Leave it to run time, where a failure is reported with the node's context.
                kept.append(n)
                continue
            }
            for (k, o) in n.outputs.enumerated() where !o.isEmpty && k < results.count { constants[o] = results[k] }
        }
        guard kept.count != graph.nodes.count else { return graph }
        // Keep only the constants something still reads, so dead weights are freed.
        g.nodes = kept
        let used = g.consumedNames
        g.initializers = constants.filter { used.contains($0.key) }
        return g
    }
}
