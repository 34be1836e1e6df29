import BerthONNX
import BerthTensor

extension KernelRegistry {
    /// Registers the ai.onnx.ml family (classic ML operators emitted by skl2onnx).
    mutating func registerMLKernels() {
        register("ArrayFeatureExtractor", domain: "ai.onnx.ml") { _, _ in
            return { inputs, _ in [try arrayFeatureExtractor(try inputs.required(0), indices: try inputs.required(1))] }
        }
    }
}

/// Selects columns of the last axis, as ONNX Runtime does: X [..., C] and indices [K] give [..., K];
/// a 1-D X gives [1, K].
func arrayFeatureExtractor(_ x: Tensor, indices: Tensor) throws -> Tensor {
    let idx = try indices.integers()
    guard let columns = x.shape.last else { throw KernelError("X must have at least one dimension") }
    for i in idx where i < 0 || i >= columns {
        throw KernelError("index \(i) is out of range for the last axis of size \(columns)")
    }
    let rows = columns == 0 ? 0 : x.count / columns
    var gather: [Int] = []
    gather.reserveCapacity(rows * idx.count)
    for r in 0..<rows { for i in idx { gather.append(r * columns + i) } }
    let shape = x.rank == 1 ? [1, idx.count] : Array(x.shape.dropLast()) + [idx.count]
    return try Tensor(shape: shape, storage: x.storage.gather(gather))
}
