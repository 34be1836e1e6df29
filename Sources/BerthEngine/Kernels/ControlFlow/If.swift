import BerthONNX
import BerthTensor

/// If (opsets 1–21): runs `then_branch` or `else_branch` by the single element of `cond` and
/// returns that branch's outputs. Both branches are compiled at plan time; they take no inputs
/// and read what they need from the enclosing scopes. Outputs may be sequences or optionals.
func controlFlowIf(_ node: Node, subgraphs: SubgraphCompiler) throws -> ValueKernel {
    let thenBranch = try subgraphs.compile(node, attribute: "then_branch")
    let elseBranch = try subgraphs.compile(node, attribute: "else_branch")
    for branch in [thenBranch, elseBranch] {
        try subgraphs.checkInterface(branch, inputs: 0, minOutputs: 0, op: "If")
        guard branch.outputs.count == node.outputs.count else {
            throw KernelError("If \(branch.label) has \(branch.outputs.count) outputs; the node has \(node.outputs.count)")
        }
    }
    let ownInputs = node.inputs.count
    return { inputs, ctx in
        let cond = try controlFlowCondition(try inputs.requiredTensor(0), "If condition")
        let branch = cond ? thenBranch : elseBranch
        return try branch.run([], outerValues: inputs[ownInputs...], context: ctx)
    }
}
