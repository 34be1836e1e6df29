import BerthONNX
import BerthTensor

/// Loop (opsets 1–21): runs `body` while the iteration count is below the trip count `M` (when
/// given) and the condition holds (when given), threading N loop-carried values through and
/// stacking the body's K scan outputs along a new first axis.
///
/// The body takes (iteration number, condition, N carried values) and returns (condition, N
/// carried values, K scan outputs). Loop-carried values may be sequences or optionals (opsets
/// 13 and 16); scan outputs must be tensors. Because the model decides how long a loop runs (exporters
/// write `M = 2^63-1` for `while` loops), iterations and accumulated scan output are bounded by
/// the session's ``RunLimits``.
func controlFlowLoop(_ node: Node, subgraphs: SubgraphCompiler) throws -> ValueKernel {
    guard node.inputs.count >= 2 else {
        throw KernelError("Loop needs inputs M and cond (either may be empty), got \(node.inputs.count) inputs")
    }
    let body = try subgraphs.compile(node, attribute: "body")
    let carried = node.inputs.count - 2
    try subgraphs.checkInterface(body, inputs: 2 + carried, minOutputs: 1 + carried, op: "Loop")
    let scanCount = body.outputs.count - 1 - carried
    guard node.outputs.count <= carried + scanCount else {
        throw KernelError("Loop has \(node.outputs.count) outputs; its body gives \(carried) loop-carried values and \(scanCount) scan outputs")
    }
    let ownInputs = node.inputs.count
    let op = "Loop '\(node.name)'"
    return { inputs, ctx in
        var tripCount: Int?
        if let m = try inputs.optionalTensor(0) {
            let v = try controlFlowInteger(m, "Loop trip count M")
            guard v >= 0 else { throw KernelError("Loop trip count M must be >= 0, got \(v)") }
            tripCount = v
        }
        var cond = try inputs.optionalTensor(1).map { try controlFlowCondition($0, "Loop condition") } ?? true
        var state = try (0..<carried).map { k -> Value in
            guard 2 + k < inputs.count, let v = inputs[2 + k] else { throw KernelError("Loop loop-carried input \(k) is missing") }
            return v
        }
        var scans = [[Tensor]](repeating: [], count: scanCount)
        var budget = ControlFlowOutputBudget(limit: ctx.limits.maxScanOutputBytes, op: op)
        let outer = inputs[ownInputs...]
        var i = 0
        while cond, tripCount.map({ i < $0 }) ?? true {
            guard i < ctx.limits.maxLoopIterations else {
                throw KernelError("Loop ran \(i) iterations without ending (the session's RunLimits.maxLoopIterations)")
            }
            let out = try body.run([.tensor(Tensor.scalar(Int64(i))), .tensor(Tensor.scalar(cond))] + state, outerValues: outer, context: ctx)
            guard out.count == 1 + carried + scanCount else {
                throw KernelError("Loop body returned \(out.count) values, expected \(1 + carried + scanCount)")
            }
            guard case let .tensor(c) = out[0] else { throw KernelError("Loop body's condition output is a \(out[0].kindName)") }
            cond = try controlFlowCondition(c, "Loop body's condition output")
            state = Array(out[1..<(1 + carried)])
            var stateBudget = ControlFlowOutputBudget(limit: ctx.limits.maxScanOutputBytes, op: op, what: "loop-carried values")
            try stateBudget.charge(state.flatMap { v -> [Tensor] in
                switch v {
                case let .tensor(t): return [t]
                case let .sequence(s): return s.tensors
                case .emptyOptional: return []
                }
            })
            let perIteration = try out[(1 + carried)...].enumerated().map { k, v -> Tensor in
                guard case let .tensor(t) = v else { throw KernelError("Loop scan output \(k) is a \(v.kindName); scan outputs must be tensors") }
                return t
            }
            try budget.charge(perIteration)
            for (k, t) in perIteration.enumerated() { scans[k].append(t) }
            i += 1
        }
        var results = state
        for (k, parts) in scans.enumerated() {
            results.append(.tensor(try parts.isEmpty
                ? Tensor.controlFlowEmptyStack(declared: body.outputs[1 + carried + k], axis: 0)
                : Tensor.controlFlowStack(parts, axis: 0, what: "Loop scan output \(k)")))
        }
        return results
    }
}
