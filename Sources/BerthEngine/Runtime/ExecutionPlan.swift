import BerthONNX
import BerthTensor

/// A graph compiled for execution: values are numbered slots, nodes are steps in topological
/// order with their kernels built, and each step knows which slots die after it.
struct ExecutionPlan: Sendable {
    struct Step: Sendable {
        var node: Node
        var kernel: StepKernel
        /// The names the kernel reads: the node's inputs, then the values its subgraphs read
        /// from enclosing scopes (``Node/outerScopeReads``), which the kernel gets after its inputs.
        var reads: [String]
        /// Slot per read; nil for an omitted optional input.
        var inputs: [Int?]
        /// Slot per node output; nil for an unused optional output.
        var outputs: [Int?]
        /// Slots whose last reader is this step, freed right after it.
        var release: [Int]
    }

    var steps: [Step]
    /// Slot count; slot values start as `constants` and are filled by feeds and steps.
    var slotCount: Int
    var constants: [(slot: Int, tensor: Tensor)]
    var inputSlots: [String: Int]
    /// For a subgraph: the slots of the values it reads from enclosing scopes, fed like inputs.
    var outerSlots: [String: Int]
    var outputSlots: [(name: String, slot: Int)]

    /// Orders nodes topologically (Kahn) and builds kernels. Throws on dangling values or cycles.
    /// `outerScope` names the values a subgraph reads from enclosing scopes; they are fed with
    /// the inputs on every run (see ``Subgraph``).
    init(graph: Graph, opsetFor: @escaping (String) -> Int?, registry: KernelRegistry, outerScope: [String] = []) throws {
        var slotOf: [String: Int] = [:]
        func slot(_ name: String) -> Int {
            if let s = slotOf[name] { return s }
            let s = slotOf.count
            slotOf[name] = s
            return s
        }
        var available = Set<String>()
        var constants: [(Int, Tensor)] = []
        for (name, t) in graph.initializers.sorted(by: { $0.key < $1.key }) {
            constants.append((slot(name), t))
            available.insert(name)
        }
        var inputSlots: [String: Int] = [:]
        for i in graph.inputs {
            inputSlots[i.name] = slot(i.name)
            available.insert(i.name)
        }
        var outerSlots: [String: Int] = [:]
        for name in outerScope where !available.contains(name) {
            outerSlots[name] = slot(name)
            available.insert(name)
        }
        let reads = graph.nodes.map { $0.inputs + $0.outerScopeReads }

        // Kahn's algorithm, stable with respect to file order.
        var producers: [String: Int] = [:]
        for (i, n) in graph.nodes.enumerated() {
            for o in n.outputs where !o.isEmpty {
                if producers[o] != nil || available.contains(o) {
                    throw EngineError.invalidGraph("value '\(o)' is produced more than once (node '\(n.name)')")
                }
                producers[o] = i
            }
        }
        var pending = [Int](repeating: 0, count: graph.nodes.count)
        var consumers: [String: [Int]] = [:]
        for (i, n) in graph.nodes.enumerated() {
            for inp in Set(reads[i]) where !inp.isEmpty && !available.contains(inp) {
                guard producers[inp] != nil else {
                    let via = n.inputs.contains(inp) ? "" : " in a subgraph"
                    throw EngineError.invalidGraph("node '\(n.name)' (\(n.opType)) reads '\(inp)'\(via), which no node, input or initializer provides")
                }
                pending[i] += 1
                consumers[inp, default: []].append(i)
            }
        }
        var ready = (0..<graph.nodes.count).filter { pending[$0] == 0 }.reversed() as [Int]
        var order: [Int] = []
        order.reserveCapacity(graph.nodes.count)
        while let i = ready.popLast() {
            order.append(i)
            var newly: [Int] = []
            for o in graph.nodes[i].outputs where !o.isEmpty {
                for c in consumers[o] ?? [] {
                    pending[c] -= 1
                    if pending[c] == 0 { newly.append(c) }
                }
            }
            ready.append(contentsOf: newly.sorted().reversed())
        }
        guard order.count == graph.nodes.count else {
            let stuck = (0..<graph.nodes.count).filter { pending[$0] > 0 }.prefix(3).map { graph.nodes[$0].name }
            throw EngineError.invalidGraph("the graph has a cycle (involving \(stuck.joined(separator: ", ")))")
        }

        var steps: [Step] = []
        steps.reserveCapacity(order.count)
        let compiler = SubgraphCompiler(registry: registry, opsetFor: opsetFor)
        let initializerNames = Set(graph.initializers.keys)
        for i in order {
            let n = graph.nodes[i]
            let opset = opsetFor(n.domain) ?? 0
            let made: StepKernel?
            do {
                made = try PlanFacts.$initializers.withValue(initializerNames) { try registry.makeKernel(n, opset: opset, subgraphs: compiler) }
            } catch { throw EngineError.wrap(error, node: n) }
            guard let kernel = made else {
                throw EngineError.unsupportedOperators([UnsupportedOp(domain: n.canonicalDomain, opType: n.opType, opset: opset)])
            }
            steps.append(Step(node: n, kernel: kernel, reads: reads[i], inputs: reads[i].map { $0.isEmpty ? nil : slot($0) },
                              outputs: n.outputs.map { $0.isEmpty ? nil : slot($0) }, release: []))
        }
        var outputSlots: [(String, Int)] = []
        for o in graph.outputs {
            guard slotOf[o.name] != nil else { throw EngineError.invalidGraph("graph output '\(o.name)' is never produced") }
            outputSlots.append((o.name, slot(o.name)))
        }

        // Liveness: free a computed value after its last reader, unless it is a graph output.
        let keep = Set(outputSlots.map(\.1)).union(constants.map(\.0))
        var lastUse: [Int: Int] = [:]
        for (s, step) in steps.enumerated() {
            for case let slot? in step.inputs { lastUse[slot] = s }
            for case let slot? in step.outputs where lastUse[slot] == nil { lastUse[slot] = s }
        }
        for (slot, s) in lastUse where !keep.contains(slot) { steps[s].release.append(slot) }

        self.steps = steps
        self.slotCount = slotOf.count
        self.constants = constants
        self.inputSlots = inputSlots
        self.outerSlots = outerSlots
        self.outputSlots = outputSlots
    }

    /// Runs the steps over `feeds` (slot → value) and returns the graph outputs by name.
    func run(feeds: [(Int, Value)], context: KernelContext) throws -> [String: Value] {
        var out: [String: Value] = [:]
        for (k, v) in try runOrdered(feeds: feeds, context: context).enumerated() { out[outputSlots[k].name] = v }
        return out
    }

    /// Runs the steps over `feeds` (slot → value) and returns the graph outputs in order.
    func runOrdered(feeds: [(Int, Value)], context: KernelContext) throws -> [Value] {
        var slots = [Value?](repeating: nil, count: slotCount)
        for (s, t) in constants { slots[s] = .tensor(t) }
        for (s, v) in feeds { slots[s] = v }
        // Steps are read in place, field by field: copying a whole step (node, kernel, slot lists)
        // per iteration took a tenth of a batch-1 MLP run in reference counting.
        try steps.withUnsafeBufferPointer { steps in
            for i in steps.indices { try Self.run(steps, i, &slots, context) }
        }
        return try outputSlots.map { name, s in
            guard let v = slots[s] else { throw EngineError.invalidGraph("graph output '\(name)' has no value") }
            return v
        }
    }

    /// Runs `steps[i]` over `slots`: gathers its inputs, calls its kernel, stores its outputs and
    /// frees the values that die after it.
    @inline(__always)
    private static func run(_ steps: UnsafeBufferPointer<Step>, _ i: Int, _ slots: inout [Value?], _ context: KernelContext) throws {
        func missing(_ k: Int) -> EngineError {
            .kernel(node: steps[i].node.name, op: steps[i].node.opType, message: "input '\(steps[i].reads[k])' has no value")
        }
        let started = context.profile?.begin()
        // Ends the step's timing however the iteration leaves (a throwing kernel included).
        defer {
            if let started {
                let node = steps[i].node
                context.profile?.end(op: node.opType, node: node.name.isEmpty ? "\(node.opType)→\(node.outputs.first ?? "")" : node.name,
                                     since: started)
            }
        }
        let inputs = steps[i].inputs
        switch steps[i].kernel {
        case let .tensors(kernel):
            var args = [Tensor?]()
            args.reserveCapacity(inputs.count)
            for k in inputs.indices {
                guard let s = inputs[k] else { args.append(nil); continue }
                switch slots[s] {
                case let .tensor(t)?: args.append(t)
                case .emptyOptional?: args.append(nil)  // an empty optional reads as an omitted input
                case .sequence?:
                    throw EngineError.kernel(node: steps[i].node.name, op: steps[i].node.opType,
                                             message: "input '\(steps[i].reads[k])' is a sequence; this operator takes tensors")
                case nil: throw missing(k)
                }
            }
            let results: [Tensor]
            do { results = try kernel(args, context) } catch { throw EngineError.wrap(error, node: steps[i].node) }
            try store(steps, i, results.count, &slots) { .tensor(results[$0]) }
        case let .values(kernel):
            var args = [Value?]()
            args.reserveCapacity(inputs.count)
            for k in inputs.indices {
                guard let s = inputs[k] else { args.append(nil); continue }
                guard let v = slots[s] else { throw missing(k) }
                args.append(v)
            }
            let results: [Value]
            do { results = try kernel(args, context) } catch { throw EngineError.wrap(error, node: steps[i].node) }
            try store(steps, i, results.count, &slots) { results[$0] }
        }
        for s in steps[i].release { slots[s] = nil }
    }

    /// Puts a step's `count` results (`result(k)`) into its output slots.
    @inline(__always)
    private static func store(_ steps: UnsafeBufferPointer<Step>, _ i: Int, _ count: Int, _ slots: inout [Value?], _ result: (Int) -> Value) throws {
        let outputs = steps[i].outputs
        for k in outputs.indices {
            guard let s = outputs[k] else { continue }
            guard k < count else {
                throw EngineError.kernel(node: steps[i].node.name, op: steps[i].node.opType,
                                         message: "output \(k) ('\(steps[i].node.outputs[k])') is not produced by this kernel")
            }
            slots[s] = result(k)
        }
    }
}

extension EngineError {
    /// Puts node context on an error thrown by a kernel or its factory.
    static func wrap(_ error: Error, node: Node) -> EngineError {
        if let e = error as? EngineError { return e }
        return .kernel(node: node.name, op: node.opType, message: "\(error)")
    }
}

/// What a kernel factory may learn about its node's graph while a plan is built: which values are
/// initializers (constant for the session's life), so a kernel can prepare them on first use
/// (a product packs its weight then) instead of waiting to see the same array twice.
enum PlanFacts {
    @TaskLocal static var initializers: Set<String> = []

    /// True when input `k` of `node` is an initializer of the graph being planned.
    static func isInitializer(_ node: Node, input k: Int) -> Bool {
        k < node.inputs.count && !node.inputs[k].isEmpty && initializers.contains(node.inputs[k])
    }
}
