import BerthONNX
import BerthTensor

extension KernelRegistry {
    /// SequenceMap (opset 17): runs `body` once per element of the input sequence. Body input
    /// j gets element i of input j when that input is a sequence (all as long as the first),
    /// else the tensor itself; body output k, a tensor, becomes element i of output sequence k.
    /// The number of iterations is the length of a sequence already held in memory, so it is
    /// bounded, but the outputs are charged against ``RunLimits/maxScanOutputBytes`` like Loop's.
    mutating func registerSequenceMap() {
        register("SequenceMap", opsets: 17...Int.max) { node, _, subgraphs in
            let body = try subgraphs.compile(node, attribute: "body")
            try subgraphs.checkInterface(body, inputs: node.inputs.count, minOutputs: node.outputs.count, op: "SequenceMap")
            let ownInputs = node.inputs.count
            let op = "SequenceMap '\(node.name)'"
            return { inputs, ctx in
                let first = try inputs.requiredSequence(0)
                let n = first.tensors.count
                let args = try (0..<ownInputs).map { j -> Value in
                    guard let v = inputs[j] else { throw KernelError("SequenceMap input \(j) is missing") }
                    if case let .sequence(s) = v, s.tensors.count != n {
                        throw KernelError("SequenceMap input \(j) has \(s.tensors.count) elements; the input sequence has \(n)")
                    }
                    if case .emptyOptional = v { throw KernelError("SequenceMap input \(j) is an empty optional") }
                    return v
                }
                var outputs = [[Tensor]](repeating: [], count: body.outputs.count)
                var budget = ControlFlowOutputBudget(limit: ctx.limits.maxScanOutputBytes, op: op, what: "output sequences")
                for i in 0..<n {
                    let feed = args.map { v -> Value in
                        if case let .sequence(s) = v { return .tensor(s.tensors[i]) }
                        return v
                    }
                    let out = try body.run(feed, outerValues: inputs[ownInputs...], context: ctx)
                    let tensors = try out.enumerated().map { k, v -> Tensor in
                        guard case let .tensor(t) = v else { throw KernelError("SequenceMap body output \(k) is a \(v.kindName); it must be a tensor") }
                        return t
                    }
                    try budget.charge(tensors)
                    for (k, t) in tensors.enumerated() { outputs[k].append(t) }
                }
                return try outputs.enumerated().map { k, ts in
                    let dtype = ts.first?.dtype ?? body.outputs[k].dtype ?? .float32
                    return .sequence(try TensorSequence(elementType: dtype, tensors: ts))
                }
            }
        }
    }
}
