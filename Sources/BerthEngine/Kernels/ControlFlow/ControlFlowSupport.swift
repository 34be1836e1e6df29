import BerthONNX
import BerthTensor

// Shared by If, Loop and Scan: reading a boolean condition, cutting a tensor into slices along
// an axis, stacking per-iteration outputs, and bounding what the iterations accumulate.

/// The single element of a condition tensor (If `cond`, Loop `cond`), as a Bool.
func controlFlowCondition(_ t: Tensor, _ what: String) throws -> Bool {
    guard t.count == 1 else { throw KernelError("\(what) must have one element, got shape \(t.shape)") }
    switch t.storage {
    case let .bool(v): return v[0]
    case .string: throw KernelError("\(what) must be a bool, got \(t.dtype)")
    default: return t.storage.double(at: 0) != 0
    }
}

/// The integer value of a single-element tensor (Loop `M`).
func controlFlowInteger(_ t: Tensor, _ what: String) throws -> Int {
    guard t.count == 1 else { throw KernelError("\(what) must have one element, got shape \(t.shape)") }
    guard let v = try? t.integers() else { throw KernelError("\(what) must be an integer tensor, got \(t.dtype)") }
    return v[0]
}

extension Tensor {
    /// Slice `index` of `axis`, with that axis removed (rank - 1).
    func controlFlowSlice(axis: Int, index: Int) -> Tensor {
        var s = shape
        s.remove(at: axis)
        // An empty tensor has another zero dimension (the sliced one is not empty), so the
        // partial products below, which could overflow, are not needed.
        if count == 0 { return Tensor(unchecked: s, storage: .zeros(dtype, count: 0)) }
        let n = shape[axis]
        let inner = shape[(axis + 1)...].reduce(1, *)
        let outer = shape[..<axis].reduce(1, *)
        var indices = [Int]()
        indices.reserveCapacity(outer * inner)
        for o in 0..<outer {
            let base = (o * n + index) * inner
            for i in 0..<inner { indices.append(base + i) }
        }
        return Tensor(unchecked: s, storage: storage.gather(indices))
    }

    /// Stacks equally shaped `parts` along a new axis `axis` (0...rank of a part).
    static func controlFlowStack(_ parts: [Tensor], axis: Int, what: String) throws -> Tensor {
        guard let first = parts.first else { throw KernelError("\(what): nothing to stack") }
        for p in parts where p.shape != first.shape || p.dtype != first.dtype {
            throw KernelError("\(what) changes between iterations: \(first.dtype)\(first.shape), then \(p.dtype)\(p.shape)")
        }
        var shape = first.shape
        shape.insert(parts.count, at: axis)
        if first.count == 0 { return Tensor(unchecked: shape, storage: .zeros(first.dtype, count: 0)) }
        let joined = try TensorStorage.concatenate(parts.map(\.storage))
        if axis == 0 { return Tensor(unchecked: shape, storage: joined) }
        // joined is [n, outer, inner]; the result is [outer, n, inner].
        let outer = first.shape[..<axis].reduce(1, *), inner = first.shape[axis...].reduce(1, *)
        let n = parts.count
        var indices = [Int]()
        indices.reserveCapacity(n * outer * inner)
        for o in 0..<outer {
            for t in 0..<n {
                let base = (t * outer + o) * inner
                for i in 0..<inner { indices.append(base + i) }
            }
        }
        return Tensor(unchecked: shape, storage: joined.gather(indices))
    }

    /// An empty stack (no iterations ran): shape [0] + the declared shape of the subgraph output
    /// when fully known, else [0]; dtype as declared, else float.
    static func controlFlowEmptyStack(declared: ValueInfo, axis: Int) -> Tensor {
        var shape: [Int] = []
        if let dims = declared.shape, dims.allSatisfy({ $0.value != nil }) { shape = dims.map { $0.value! } }
        shape.insert(0, at: min(max(0, axis), shape.count))
        return Tensor(unchecked: shape, storage: .zeros(declared.dtype ?? .float32, count: 0))
    }
}

/// Counts the bytes per-iteration outputs accumulate, against ``RunLimits/maxScanOutputBytes``.
struct ControlFlowOutputBudget {
    let limit: Int
    let op: String
    /// What is counted, for the message.
    let what: String
    private(set) var used = 0

    init(limit: Int, op: String, what: String = "scan outputs") {
        self.limit = limit
        self.op = op
        self.what = what
    }

    /// Charges one iteration's outputs; throws when the total passes the limit.
    mutating func charge(_ outputs: some Sequence<Tensor>) throws {
        for t in outputs {
            // Strings have no fixed size; count 16 bytes per element as a floor.
            let size = t.dtype == .string ? 16 : t.dtype.byteSize
            let (bytes, o1) = t.count.multipliedReportingOverflow(by: size)
            let (total, o2) = used.addingReportingOverflow(bytes)
            guard !o1, !o2, total <= limit else {
                throw KernelError("\(op) \(what) exceed \(limit) bytes (the session's RunLimits.maxScanOutputBytes)")
            }
            used = total
        }
    }
}

extension SubgraphCompiler {
    /// Checks a compiled body's interface: `inputs` formal inputs and at least `minOutputs` outputs.
    func checkInterface(_ g: Subgraph, inputs: Int, minOutputs: Int, op: String) throws {
        guard g.inputs.count == inputs else {
            throw KernelError("\(op) \(g.label) must take \(inputs) inputs, it declares \(g.inputs.count)")
        }
        guard g.outputs.count >= minOutputs else {
            throw KernelError("\(op) \(g.label) must have at least \(minOutputs) outputs, it declares \(g.outputs.count)")
        }
    }
}
