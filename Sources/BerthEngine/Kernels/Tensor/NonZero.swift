import BerthONNX
import BerthTensor

/// NonZero: the indices of the non-zero elements as int64 [rank, count], row-major order (a
/// scalar counts as rank 1, as NumPy and ONNX Runtime treat it).
extension TensorFamily {
    static func nonZero(_ x: Tensor) throws -> Tensor {
        let flags: [Bool]
        switch x.storage {
        case let .bool(v): flags = v
        case let .string(v): flags = v.map { !$0.isEmpty }
        default: flags = (0..<x.count).map { x.storage.double(at: $0) != 0 }
        }
        let shape = x.rank == 0 ? [1] : x.shape
        let r = shape.count
        let hits = flags.enumerated().filter { $0.element }.map(\.offset)
        var out = [Int64](repeating: 0, count: r * hits.count)
        let strides = TensorFamily.strides(shape)
        for (n, flat) in hits.enumerated() {
            var rem = flat
            for k in 0..<r {
                out[k * hits.count + n] = Int64(rem / strides[k])
                rem %= strides[k]
            }
        }
        return Tensor(unchecked: [r, hits.count], storage: .int64(out))
    }

    static func registerNonZero(_ r: inout KernelRegistry) {
        r.register("NonZero", opsets: 9...Int.max) { _, _ in
            { inputs, _ in [try nonZero(try inputs.required(0))] }
        }
    }
}
