import BerthONNX
import BerthTensor

/// A graph rewrite applied at load time. Each pass preserves the graph's outputs exactly.
protocol OptimizerPass {
    /// A short name for logs.
    var name: String { get }
    /// Returns the rewritten graph.
    func apply(_ graph: Graph, context: OptimizerContext) throws -> Graph
}

/// What passes may use: the kernels (to fold constants) and the model's opsets.
struct OptimizerContext {
    var registry: KernelRegistry
    var opsetFor: (String) -> Int?
    var pool: ThreadPool
}

/// Runs the passes in order, like ONNX Runtime's level-1 graph transformers.
struct GraphOptimizer {
    var registry: KernelRegistry
    var opsetFor: (String) -> Int?
    var pool: ThreadPool

    var passes: [OptimizerPass] { [IdentityElimination(), ConstantFolding(), IdentityElimination()] }

    func optimize(_ graph: Graph) throws -> Graph {
        let ctx = OptimizerContext(registry: registry, opsetFor: opsetFor, pool: pool)
        var g = graph
        for p in passes { g = try p.apply(g, context: ctx) }
        return g
    }
}

extension Graph {
    /// Names every value the graph reads as an input of some node or as a graph output.
    var consumedNames: Set<String> {
        var s = Set(outputs.map(\.name))
        for n in nodes { for i in n.inputs where !i.isEmpty { s.insert(i) } }
        return s
    }
}
