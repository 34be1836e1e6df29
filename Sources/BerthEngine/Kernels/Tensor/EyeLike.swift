import BerthONNX
import BerthTensor

/// EyeLike: a 2-D tensor of the input's shape with ones on diagonal `k`, in the `dtype` attribute's
/// type (the input's by default).
extension TensorFamily {
    static func eyeLike(_ x: Tensor, dtype: DType, k: Int) throws -> Tensor {
        guard x.rank == 2 else { throw KernelError("EyeLike needs a 2-D input, got shape \(x.shape)") }
        guard dtype != .string else { throw KernelError("EyeLike does not support dtype string") }
        let rows = x.shape[0], cols = x.shape[1]
        _ = try count(x.shape)
        var ones: [Int] = []
        for i in 0..<rows {
            let (j, o) = i.addingReportingOverflow(k)
            if !o && j >= 0 && j < cols { ones.append(i * cols + j) }
        }
        struct Fill: DTypeBody {
            var count: Int, ones: [Int]
            func run<T: TensorElement>(_: T.Type) throws -> TensorStorage {
                let one: T
                if T.self == Bool.self { one = true as! T } else if let n = T.self as? any NumericElement.Type { one = n.init(fromDouble: 1) as! T } else { one = T.zero }
                var v = [T](repeating: T.zero, count: count)
                for i in ones { v[i] = one }
                return T.storage(v)
            }
        }
        return Tensor(unchecked: x.shape, storage: try dtype.dispatch(Fill(count: rows * cols, ones: ones)))
    }

    static func registerEyeLike(_ r: inout KernelRegistry) {
        r.register("EyeLike", opsets: 9...Int.max) { node, _ in
            let k = try node.int("k", default: 0)
            let code = try node.ints("dtype")?.first
            let dtype = code.flatMap { DType(rawValue: $0) }
            guard code == nil || (dtype != nil && dtype != .string) else { throw KernelError("EyeLike dtype \(code!) is not supported") }
            return { inputs, _ in
                let x = try inputs.required(0)
                return [try eyeLike(x, dtype: dtype ?? x.dtype, k: k)]
            }
        }
    }
}
