import BerthONNX
import BerthTensor

/// Compiles the subgraphs of one node (If branches, Loop and Scan bodies) into nested execution
/// plans with the registry and opsets of the plan that holds the node. The plan builder hands
/// one to every ``SubgraphKernelFactory``, so each subgraph is compiled once, at plan time.
struct SubgraphCompiler {
    let registry: KernelRegistry
    let opsetFor: (String) -> Int?

    /// Compiles attribute `attribute` of `node`, which must be a graph.
    func compile(_ node: Node, attribute: String) throws -> Subgraph {
        guard case let .graph(g)? = node.attributes[attribute] else {
            throw KernelError("\(node.opType) needs a graph attribute '\(attribute)'")
        }
        return try compile(g, of: node, label: attribute)
    }

    /// Compiles `graph`, one of `node`'s subgraphs.
    func compile(_ graph: Graph, of node: Node, label: String) throws -> Subgraph {
        let nodeOuter = node.outerScopeReads
        let reads = graph.outerScopeReads.sorted()
        let plan: ExecutionPlan
        do { plan = try ExecutionPlan(graph: graph, opsetFor: opsetFor, registry: registry, outerScope: reads) } catch {
            throw KernelError("\(label) '\(graph.name)': \(error)")
        }
        // The kernel gets the node's outer-scope values after its own inputs, in
        // `node.outerScopeReads` order; each subgraph takes the ones it reads.
        var outer: [(slot: Int, index: Int)] = []
        for name in reads {
            guard let slot = plan.outerSlots[name], let index = nodeOuter.firstIndex(of: name) else { continue }
            outer.append((slot, index))
        }
        return Subgraph(label: "\(label) '\(graph.name)'", plan: plan, inputSlots: graph.inputs.map { plan.inputSlots[$0.name]! },
                        inputs: graph.inputs, outputs: graph.outputs, outer: outer)
    }
}

/// A compiled subgraph: runs with its formal inputs and the enclosing scopes' values it reads.
struct Subgraph: Sendable {
    /// `then_branch 'name'`, for error messages.
    let label: String
    let plan: ExecutionPlan
    /// The slot of each formal input, in declaration order.
    let inputSlots: [Int]
    /// The declared inputs and outputs (names, and dtypes and shapes where declared).
    let inputs: [ValueInfo]
    let outputs: [ValueInfo]
    /// Slot of each outer-scope value and its position among the node's outer-scope reads.
    let outer: [(slot: Int, index: Int)]

    /// Runs once. `inputs` are the formal inputs in order; `outerValues` the node's outer-scope
    /// values (the kernel's arguments after the node's own inputs). Returns the outputs in order.
    func run(_ inputs: [Value], outerValues: ArraySlice<Value?>, context: KernelContext) throws -> [Value] {
        guard inputs.count == inputSlots.count else {
            throw KernelError("\(label) takes \(inputSlots.count) inputs, given \(inputs.count)")
        }
        var feeds: [(Int, Value)] = []
        feeds.reserveCapacity(inputs.count + outer.count)
        for (s, v) in zip(inputSlots, inputs) { feeds.append((s, v)) }
        for (slot, index) in outer {
            let i = outerValues.startIndex + index
            guard i < outerValues.endIndex, let v = outerValues[i] else {
                throw KernelError("\(label) reads an outer-scope value that has none")
            }
            feeds.append((slot, v))
        }
        do { return try plan.runOrdered(feeds: feeds, context: context) } catch { throw KernelError("\(label): \(error)") }
    }

    /// Runs once over tensors only (Scan): like ``run(_:outerValues:context:)``, and throws when
    /// an output is not a tensor.
    func run(_ inputs: [Tensor], outerValues: ArraySlice<Tensor?>, context: KernelContext) throws -> [Tensor] {
        let outer = ArraySlice(outerValues.map { $0.map(Value.tensor) })
        return try run(inputs.map(Value.tensor), outerValues: outer, context: context).enumerated().map { k, v in
            guard case let .tensor(t) = v else { throw KernelError("\(label) output \(k) is a \(v.kindName); a tensor is needed here") }
            return t
        }
    }
}
