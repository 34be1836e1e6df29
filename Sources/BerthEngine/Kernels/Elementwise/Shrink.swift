import BerthONNX
import BerthTensor

/// Shrink: x + bias below -lambd, x - bias above lambd, 0 between (any numeric dtype; the result is
/// computed in Double and converted back, so integers saturate).
func elementwiseShrink(_ x: Tensor, bias: Double, lambd: Double) throws -> Tensor {
    if case let .float32(v) = x.storage {
        let b = Float(bias), l = Float(lambd)
        return Tensor(unchecked: x.shape, storage: .float32(v.map { $0 < -l ? $0 + b : ($0 > l ? $0 - b : 0) }))
    }
    struct Body: NumericDTypeBody {
        var x: Tensor, bias: Double, lambd: Double
        func run<T: NumericElement>(_: T.Type) throws -> TensorStorage {
            T.storage(try x.values(T.self).map { e in
                let v = e.doubleValue
                return T(fromDouble: v < -lambd ? v + bias : (v > lambd ? v - bias : 0))
            })
        }
    }
    guard let s = try x.dtype.dispatchNumeric(Body(x: x, bias: bias, lambd: lambd)) else {
        throw KernelError("Shrink needs a numeric input, got \(x.dtype)")
    }
    return Tensor(unchecked: x.shape, storage: s)
}

extension KernelRegistry {
    mutating func registerElementwiseShrink() {
        register("Shrink", opsets: 9...Int.max) { node, _ in
            let bias = Double(try node.float("bias", default: 0)), lambd = Double(try node.float("lambd", default: 0.5))
            return { inputs, _ in [try elementwiseShrink(try inputs.required(0), bias: bias, lambd: lambd)] }
        }
    }
}
