import BerthONNX
import BerthTensor

/// Scan's attributes and compiled body, shared by Scan 8 and Scan 9+.
private struct ControlFlowScanSetup: Sendable {
    let body: Subgraph
    /// N state values, M scan inputs, K scan outputs.
    let states: Int, scanInputs: Int, scanOutputs: Int
    /// Direction per scan input (true: last slice first).
    let inputReverse: [Bool]
    let op: String

    init(_ node: Node, subgraphs: SubgraphCompiler, nodeStates: Int, directionsKey: String) throws {
        body = try subgraphs.compile(node, attribute: "body")
        scanInputs = try node.int("num_scan_inputs")
        states = nodeStates
        guard scanInputs >= 1, states >= 0 else {
            throw KernelError("Scan num_scan_inputs \(scanInputs) does not fit the node's \(node.inputs.count) inputs")
        }
        try subgraphs.checkInterface(body, inputs: states + scanInputs, minOutputs: states, op: "Scan")
        scanOutputs = body.outputs.count - states
        guard node.outputs.count <= states + scanOutputs else {
            throw KernelError("Scan has \(node.outputs.count) outputs; its body gives \(states) states and \(scanOutputs) scan outputs")
        }
        let dirs = try node.ints(directionsKey) ?? [Int](repeating: 0, count: scanInputs)
        guard dirs.count == scanInputs, dirs.allSatisfy({ $0 == 0 || $0 == 1 }) else {
            throw KernelError("Scan \(directionsKey) must hold \(scanInputs) values of 0 or 1, got \(dirs)")
        }
        inputReverse = dirs.map { $0 == 1 }
        op = "Scan '\(node.name)'"
    }

    /// Runs the body `length` times. Scan input j is sliced along `axes[j]`; returns the final
    /// states and each scan output's per-iteration values in iteration order.
    func steps(states initial: [Tensor], scans: [Tensor], axes: [Int], length: Int, outer: ArraySlice<Tensor?>,
               context: KernelContext, budget: inout ControlFlowOutputBudget) throws -> (states: [Tensor], outputs: [[Tensor]]) {
        var state = initial
        var outputs = [[Tensor]](repeating: [], count: scanOutputs)
        for t in 0..<length {
            var args = state
            for (j, x) in scans.enumerated() {
                args.append(x.controlFlowSlice(axis: axes[j], index: inputReverse[j] ? length - 1 - t : t))
            }
            let out = try body.run(args, outerValues: outer, context: context)
            guard out.count == states + scanOutputs else {
                throw KernelError("Scan body returned \(out.count) values, expected \(states + scanOutputs)")
            }
            state = Array(out[..<states])
            try budget.charge(out[states...])
            for (k, y) in out[states...].enumerated() { outputs[k].append(y) }
        }
        return (state, outputs)
    }

    /// The length of every scan input along its axis, which must agree.
    func commonLength(_ scans: [Tensor], axes: [Int]) throws -> Int {
        let lengths = zip(scans, axes).map { $0.shape[$1] }
        guard let first = lengths.first, lengths.allSatisfy({ $0 == first }) else {
            throw KernelError("Scan inputs differ in length along their scan axes: \(lengths)")
        }
        return first
    }
}

/// Scan 9–21: N state inputs then M scan inputs, each sliced along its `scan_input_axes` entry
/// (forward or reverse by `scan_input_directions`); the K scan outputs are stacked along
/// `scan_output_axes` in iteration order, or reversed by `scan_output_directions`. Negative axes
/// count from the end (opset 11 allowed them; they are accepted for 9 too).
func controlFlowScan(_ node: Node, opset: Int, subgraphs: SubgraphCompiler) throws -> Kernel {
    let m = try node.int("num_scan_inputs")
    let setup = try ControlFlowScanSetup(node, subgraphs: subgraphs, nodeStates: node.inputs.count - m,
                                         directionsKey: "scan_input_directions")
    let (n, k) = (setup.states, setup.scanOutputs)
    let inAxes = try node.ints("scan_input_axes") ?? [Int](repeating: 0, count: m)
    let outAxes = try node.ints("scan_output_axes") ?? [Int](repeating: 0, count: k)
    let outDirs = try node.ints("scan_output_directions") ?? [Int](repeating: 0, count: k)
    guard inAxes.count == m else { throw KernelError("Scan scan_input_axes must have \(m) entries, got \(inAxes.count)") }
    guard outAxes.count == k, outDirs.count == k, outDirs.allSatisfy({ $0 == 0 || $0 == 1 }) else {
        throw KernelError("Scan scan_output_axes and scan_output_directions must have \(k) entries (directions 0 or 1), got \(outAxes) and \(outDirs)")
    }
    let ownInputs = node.inputs.count
    return { inputs, ctx in
        let states = try (0..<n).map { try inputs.required($0) }
        let scans = try (0..<m).map { try inputs.required(n + $0) }
        let axes = try zip(scans, inAxes).map { x, a -> Int in
            guard let axis = Shape.normalizeAxis(a, rank: x.rank) else {
                throw KernelError("Scan input axis \(a) is out of range for shape \(x.shape)")
            }
            return axis
        }
        let length = try setup.commonLength(scans, axes: axes)
        var budget = ControlFlowOutputBudget(limit: ctx.limits.maxScanOutputBytes, op: setup.op)
        let (final, perStep) = try setup.steps(states: states, scans: scans, axes: axes, length: length,
                                               outer: inputs[ownInputs...], context: ctx, budget: &budget)
        var results = final
        for (j, parts) in perStep.enumerated() {
            let declared = setup.body.outputs[n + j]
            guard let first = parts.first else {
                results.append(Tensor.controlFlowEmptyStack(declared: declared, axis: max(0, outAxes[j])))
                continue
            }
            guard let axis = Shape.normalizeAxis(outAxes[j], rank: first.rank + 1) else {
                throw KernelError("Scan output axis \(outAxes[j]) is out of range for per-iteration shape \(first.shape)")
            }
            results.append(try Tensor.controlFlowStack(outDirs[j] == 1 ? Array(parts.reversed()) : parts, axis: axis, what: "Scan output \(j)"))
        }
        return results
    }
}

/// Scan 8: batched. Inputs are an optional `sequence_lens` [batch], N states [batch, ...] and
/// M scan inputs [batch, sequence, ...] (`directions` per scan input); each batch entry runs
/// its own `sequence_lens[b]` steps. Scan outputs are [batch, max sequence, ...], zero past
/// each entry's length, as ONNX Runtime pads them.
func controlFlowScan8(_ node: Node, subgraphs: SubgraphCompiler) throws -> Kernel {
    let m = try node.int("num_scan_inputs")
    let setup = try ControlFlowScanSetup(node, subgraphs: subgraphs, nodeStates: node.inputs.count - 1 - m, directionsKey: "directions")
    let n = setup.states
    let ownInputs = node.inputs.count
    return { inputs, ctx in
        let states = try (0..<n).map { try inputs.required(1 + $0) }
        let scans = try (0..<m).map { try inputs.required(1 + n + $0) }
        for x in states where x.rank < 1 { throw KernelError("Scan 8 state inputs need a batch axis, got shape \(x.shape)") }
        for x in scans where x.rank < 2 { throw KernelError("Scan 8 scan inputs need batch and sequence axes, got shape \(x.shape)") }
        let batch = scans[0].shape[0]
        for x in states + scans where x.shape[0] != batch {
            throw KernelError("Scan 8 inputs differ in batch size: \(x.shape) vs \(batch)")
        }
        let maxLength = try setup.commonLength(scans, axes: [Int](repeating: 1, count: m))
        var lengths = [Int](repeating: maxLength, count: batch)
        if let sl = inputs.optional(0) {
            lengths = try sl.integers()
            guard lengths.count == batch, lengths.allSatisfy({ (0...maxLength).contains($0) }) else {
                throw KernelError("Scan sequence_lens must hold \(batch) lengths in 0...\(maxLength), got \(lengths)")
            }
        }
        var budget = ControlFlowOutputBudget(limit: ctx.limits.maxScanOutputBytes, op: setup.op)
        var finalStates = [[Tensor]](repeating: [], count: n)
        var outputs = [[[Tensor]]](repeating: [], count: setup.scanOutputs)  // [output][batch] → steps
        for b in 0..<batch {
            let (final, perStep) = try setup.steps(
                states: states.map { $0.controlFlowSlice(axis: 0, index: b) },
                scans: scans.map { $0.controlFlowSlice(axis: 0, index: b) },
                axes: [Int](repeating: 0, count: m), length: lengths[b], outer: inputs[ownInputs...], context: ctx, budget: &budget)
            for (i, s) in final.enumerated() { finalStates[i].append(s) }
            for (j, parts) in perStep.enumerated() { outputs[j].append(parts) }
        }
        var results = try finalStates.enumerated().map { i, parts in
            try parts.isEmpty ? Tensor.controlFlowEmptyStack(declared: setup.body.outputs[i], axis: 0)
                : Tensor.controlFlowStack(parts, axis: 0, what: "Scan state \(i)")
        }
        for (j, perBatch) in outputs.enumerated() {
            guard let step = perBatch.lazy.compactMap(\.first).first else {
                results.append(Tensor.controlFlowEmptyStack(declared: setup.body.outputs[n + j], axis: 0))
                continue
            }
            // Pad each entry to the longest sequence with zeros of the step's shape.
            let zero = Tensor(unchecked: step.shape, storage: .zeros(step.dtype, count: step.count))
            for parts in perBatch { try budget.charge([Tensor](repeating: zero, count: maxLength - parts.count)) }
            let rows = try perBatch.map { parts in
                try Tensor.controlFlowStack(parts + [Tensor](repeating: zero, count: maxLength - parts.count), axis: 0, what: "Scan output \(j)")
            }
            results.append(try Tensor.controlFlowStack(rows, axis: 0, what: "Scan output \(j)"))
        }
        return results
    }
}
