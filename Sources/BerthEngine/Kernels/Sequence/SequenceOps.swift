import BerthONNX
import BerthTensor

// The sequence ops of opset 11 (SequenceEmpty, SequenceConstruct, SequenceAt, SequenceInsert,
// SequenceErase, SequenceLength). Their meaning has not changed since; later opsets only
// widened the element types.

/// A position input (SequenceAt, SequenceInsert, SequenceErase) as an index into `count`
/// elements: a scalar int32/int64 in `-count...count-1`, or `-count...count` when `inserting`.
func sequencePosition(_ t: Tensor, count: Int, inserting: Bool, op: String) throws -> Int {
    guard t.dtype == .int32 || t.dtype == .int64 else { throw KernelError("\(op) position must be int32 or int64, got \(t.dtype)") }
    guard t.count == 1, t.rank <= 1 else { throw KernelError("\(op) position must be a scalar, got shape \(t.shape)") }
    let p = try t.integers()[0]
    let upper = inserting ? count : count - 1
    guard p >= -count, p <= upper else {
        throw KernelError("\(op) position \(p) is out of range [\(-count), \(upper)] for a sequence of \(count)")
    }
    return p < 0 ? p + count : p
}

extension KernelRegistry {
    mutating func registerSequenceOps() {
        register("SequenceEmpty", opsets: 11...Int.max) { node, _, _ in
            let code = try node.int("dtype", default: DType.float32.rawValue)
            guard let dtype = DType(rawValue: code) else { throw KernelError("SequenceEmpty dtype \(code) is not a Berth dtype") }
            return { _, _ in [.sequence(try TensorSequence(elementType: dtype))] }
        }
        register("SequenceConstruct", opsets: 11...Int.max) { _, _, _ in
            { inputs, _ in
                let tensors = try inputs.indices.map { try inputs.requiredTensor($0) }
                guard let first = tensors.first else { throw KernelError("SequenceConstruct needs at least one input") }
                return [.sequence(try TensorSequence(elementType: first.dtype, tensors: tensors))]
            }
        }
        register("SequenceAt", opsets: 11...Int.max) { _, _, _ in
            { inputs, _ in
                let s = try inputs.requiredSequence(0)
                let i = try sequencePosition(try inputs.requiredTensor(1), count: s.tensors.count, inserting: false, op: "SequenceAt")
                return [.tensor(s.tensors[i])]
            }
        }
        register("SequenceInsert", opsets: 11...Int.max) { _, _, _ in
            { inputs, _ in
                var s = try inputs.requiredSequence(0)
                let t = try inputs.requiredTensor(1)
                guard t.dtype == s.elementType else {
                    throw KernelError("SequenceInsert: a \(t.dtype) tensor cannot go into a sequence of \(s.elementType)")
                }
                let n = s.tensors.count
                let i = try inputs.optionalTensor(2).map { try sequencePosition($0, count: n, inserting: true, op: "SequenceInsert") } ?? n
                s.tensors.insert(t, at: i)
                return [.sequence(s)]
            }
        }
        register("SequenceErase", opsets: 11...Int.max) { _, _, _ in
            { inputs, _ in
                var s = try inputs.requiredSequence(0)
                let n = s.tensors.count
                guard n > 0 else { throw KernelError("SequenceErase: the sequence is empty") }
                let i = try inputs.optionalTensor(1).map { try sequencePosition($0, count: n, inserting: false, op: "SequenceErase") } ?? n - 1
                s.tensors.remove(at: i)
                return [.sequence(s)]
            }
        }
        register("SequenceLength", opsets: 11...Int.max) { _, _, _ in
            { inputs, _ in [.tensor(Tensor.scalar(Int64(try inputs.requiredSequence(0).tensors.count)))] }
        }
        registerSequenceSplitConcat()
        registerSequenceMap()
        registerOptionalOps()
    }
}
