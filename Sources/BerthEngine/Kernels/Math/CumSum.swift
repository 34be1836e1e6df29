import BerthONNX
import BerthTensor

/// CumSum along one axis, optionally exclusive (each output leaves out its own element) and/or
/// reversed (summing from the end). Integers wrap, like ONNX Runtime's.
struct MathCumSumVisitor: MathTypeVisitor {
    var x: Tensor, axis: Int, exclusive: Bool, reverse: Bool

    func visit<T: MathScalar>(_: T.Type) throws -> Tensor {
        let v = try x.values(T.self)
        let len = x.shape[axis]
        let outer = x.shape[..<axis].reduce(1, &*), inner = x.shape[(axis + 1)...].reduce(1, &*)
        var out = [T](repeating: T.zero, count: v.count)
        for o in 0..<outer {
            for i in 0..<inner {
                let base = o * len * inner + i
                var acc = T.zero
                for s in 0..<len {
                    let t = reverse ? len - 1 - s : s
                    let at = base + t * inner
                    if exclusive {
                        out[at] = acc
                        acc = T.mathAdd(acc, v[at])
                    } else {
                        acc = T.mathAdd(acc, v[at])
                        out[at] = acc
                    }
                }
            }
        }
        return Tensor(unchecked: x.shape, storage: T.storage(out))
    }
}

extension KernelRegistry {
    mutating func registerCumSum() {
        register("CumSum", opsets: 11...Int.max) { node, _ in
            let exclusive = try node.int("exclusive", default: 0) != 0, reverse = try node.int("reverse", default: 0) != 0
            return { inputs, _ in
                let x = try inputs.required(0)
                let a = try TensorFamily.ints(try inputs.required(1), "CumSum axis")
                guard a.count == 1 else { throw KernelError("CumSum axis must be a scalar, got \(a.count) elements") }
                guard x.rank >= 1 else { throw KernelError("CumSum needs an input of rank 1 or more") }
                let axis = try TensorFamily.axis(a[0], rank: x.rank, "CumSum axis")
                guard let y = try mathDispatch(x.dtype, MathCumSumVisitor(x: x, axis: axis, exclusive: exclusive, reverse: reverse)) else {
                    throw KernelError("CumSum does not support dtype \(x.dtype)")
                }
                return [y]
            }
        }
    }
}
