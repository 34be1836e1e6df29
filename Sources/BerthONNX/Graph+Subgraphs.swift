/// Subgraphs (the `graph` attributes of If, Loop and Scan) and the values they read from the
/// scopes around them.
extension Node {
    /// The graphs among the node's attributes, in attribute-name order.
    public var subgraphs: [Graph] {
        attributes.sorted { $0.key < $1.key }.flatMap { _, a -> [Graph] in
            switch a {
            case let .graph(g): return [g]
            case let .graphs(gs): return gs
            default: return []
            }
        }
    }

    /// Names the node's subgraphs read from the enclosing scopes (sorted, no duplicates): values
    /// a subgraph, or a subgraph nested in it, uses without defining them itself. They are inputs
    /// of the node as far as ordering and liveness go.
    public var outerScopeReads: [String] {
        var names = Set<String>()
        for g in subgraphs { names.formUnion(g.outerScopeReads) }
        return names.sorted()
    }
}

extension Graph {
    /// Names this graph reads but does not define (its inputs, initializers and node outputs
    /// define names): for a subgraph, the values it takes from the enclosing scopes.
    public var outerScopeReads: Set<String> {
        var defined = Set(initializers.keys)
        for i in inputs { defined.insert(i.name) }
        for n in nodes { for o in n.outputs where !o.isEmpty { defined.insert(o) } }
        var reads = Set<String>()
        for n in nodes {
            for i in n.inputs where !i.isEmpty { reads.insert(i) }
            for g in n.subgraphs { reads.formUnion(g.outerScopeReads) }
        }
        for o in outputs { reads.insert(o.name) }
        return reads.subtracting(defined)
    }

    /// Every node of the graph and of its subgraphs, depth first.
    public var allNodes: [Node] {
        nodes.flatMap { n in [n] + n.subgraphs.flatMap(\.allNodes) }
    }
}
