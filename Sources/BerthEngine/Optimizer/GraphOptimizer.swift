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

    var passes: [OptimizerPass] { [IdentityElimination(), QuantizedMatMulFusion(), QuantizedConvFusion(), ConstantFolding(), IdentityElimination(), GeluFusion(), MatMulAddFusion(), MatMulActivationFusion(), GemmActivationFusion(), AttentionFusion(), ConvFusion()] }

    func optimize(_ graph: Graph) throws -> Graph {
        let ctx = OptimizerContext(registry: registry, opsetFor: opsetFor, pool: pool)
        var g = graph
        for p in passes { g = try p.apply(g, context: ctx) }
        return g
    }
}

extension Graph {
    /// Names every value the graph reads as an input of some node, from a node's subgraph, or
    /// as a graph output.
    var consumedNames: Set<String> {
        var s = Set(outputs.map(\.name))
        for n in nodes {
            for i in n.inputs where !i.isEmpty { s.insert(i) }
            s.formUnion(n.outerScopeReads)
        }
        return s
    }

    /// The graph with node `i` replaced by `replacements[i]` and the nodes in `remove` dropped,
    /// in their order: how a fusion pass writes its matches back.
    func rewritten(replacing replacements: [Int: Node], removing remove: Set<Int>) -> Graph {
        var g = self
        g.nodes = nodes.enumerated().compactMap { i, n in replacements[i] ?? (remove.contains(i) ? nil : n) }
        return g
    }

    /// Names the graph's subgraphs read from it: a pass must keep these names (it cannot
    /// rename a value inside a subgraph), as it keeps the graph outputs.
    var subgraphReads: Set<String> {
        Set(nodes.flatMap(\.outerScopeReads))
    }
}

/// Who reads and who writes each value, for pattern-matching passes.
struct GraphIndex {
    /// Node index producing each value.
    var producer: [String: Int] = [:]
    /// Node indices reading each value (a node reading a value twice appears twice; a node
    /// whose subgraphs read it counts as a reader).
    var consumers: [String: [Int]] = [:]
    /// Values that are graph outputs; a fusion must not hide them.
    var graphOutputs: Set<String>

    init(_ g: Graph) {
        graphOutputs = Set(g.outputs.map(\.name))
        for (i, n) in g.nodes.enumerated() {
            for o in n.outputs where !o.isEmpty { producer[o] = i }
            for v in n.inputs where !v.isEmpty { consumers[v, default: []].append(i) }
            for v in n.outerScopeReads { consumers[v, default: []].append(i) }
        }
    }

    /// The single node reading `value`, when exactly one node reads it and it is not a graph output.
    func soleConsumer(of value: String) -> Int? {
        guard !graphOutputs.contains(value), let c = consumers[value], c.count == 1 else { return nil }
        return c[0]
    }
}

extension Node {
    /// True for an ai.onnx node of type `op`.
    func isOp(_ op: String) -> Bool { opType == op && (domain.isEmpty || domain == "ai.onnx") }
}

extension Graph {
    /// The value of a scalar (or single-element) float constant, if `name` is one.
    func scalarConstant(_ name: String) -> Double? {
        guard let t = initializers[name], t.count == 1, t.dtype.isFloatingPoint else { return nil }
        return t.storage.double(at: 0)
    }
}
