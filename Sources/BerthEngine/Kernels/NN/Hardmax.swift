import BerthONNX
import BerthTensor

/// Hardmax: 1 at the first maximum of each row and 0 elsewhere; rows are the flattened trailing
/// axes from `axis` before opset 13 and the single `axis` from 13, as for Softmax.
func nnHardmax(_ x: Tensor, axis: Int, flatten: Bool) throws -> Tensor {
    guard x.dtype.isFloatingPoint else { throw KernelError("Hardmax expects a floating-point input, got \(x.dtype)") }
    let v = try nnSoftmaxView(x.shape, axis: axis, flatten: flatten, op: "Hardmax")
    let d = x.doubles
    var hot = [Bool](repeating: false, count: x.count)
    if v.len > 0 {
        for o in 0..<v.outer {
            for i in 0..<v.inner {
                let base = o * v.len * v.inner + i
                var best = 0
                for a in 1..<max(1, v.len) where d[base + a * v.inner] > d[base + best * v.inner] { best = a }
                hot[base + best * v.inner] = true
            }
        }
    }
    switch x.dtype {
    case .float32: return Tensor(unchecked: x.shape, storage: .float32(hot.map { $0 ? 1 : 0 }))
    case .float16: return Tensor(unchecked: x.shape, storage: .float16(hot.map { $0 ? 1 : 0 }))
    default: return Tensor(unchecked: x.shape, storage: .float64(hot.map { $0 ? 1 : 0 }))
    }
}

extension KernelRegistry {
    mutating func registerHardmaxKernels() {
        register("Hardmax", opsets: 1...12) { node, _ in
            let axis = try node.int("axis", default: 1)
            return { inputs, _ in [try nnHardmax(try inputs.required(0), axis: axis, flatten: true)] }
        }
        register("Hardmax", opsets: 13...Int.max) { node, _ in
            let axis = try node.int("axis", default: -1)
            return { inputs, _ in [try nnHardmax(try inputs.required(0), axis: axis, flatten: false)] }
        }
    }
}
