import BerthONNX
import BerthTensor

/// MaxUnpool: a zero tensor of the unpooled shape with `y.flat[I[j]] = x[j]`, the indices being
/// the flat ones MaxPool returns. The shape comes from the optional `output_shape` input, else
/// from `(in - 1) * stride + kernel - pads` per spatial axis.
private func nnMaxUnpool(_ inputs: [Tensor?], kernel: [Int], strides: [Int]?, pads: [Int]?) throws -> Tensor {
    let x = try inputs.required(0)
    let idx = try inputs.required(1).integers()
    let (n, c, spatial) = try nnSplitNC(x.shape, op: "MaxUnpool")
    let k = spatial.count
    guard kernel.count == k else { throw KernelError("kernel_shape \(kernel) must have \(k) values") }
    let s = strides ?? Array(repeating: 1, count: k)
    let p = pads ?? Array(repeating: 0, count: 2 * k)
    guard s.count == k, p.count == 2 * k else { throw KernelError("strides \(s) / pads \(p) must have \(k) / \(2 * k) values") }
    let defaultShape = [n, c] + (0..<k).map { (spatial[$0] - 1) * s[$0] + kernel[$0] - p[$0] - p[$0 + k] }
    var outShape = defaultShape
    let defaultTotal = try Shape.elementCount(defaultShape)
    guard idx.count == x.count else { throw KernelError("MaxUnpool indices have \(idx.count) values, X has \(x.count)") }
    for i in idx where i < 0 || i >= defaultTotal { throw KernelError("MaxUnpool index \(i) is outside the unpooled tensor \(defaultShape)") }
    var flat = idx
    if let shapeT = inputs.optional(2) {
        let given = try shapeT.integers()
        guard given.count == x.rank else { throw KernelError("MaxUnpool output_shape \(given) must have rank \(x.rank)") }
        outShape = given
        if given != defaultShape {
            // Indices address the default unpooled shape; move each coordinate into the larger output.
            let from = Shape.strides(defaultShape), to = Shape.strides(given)
            for (j, i) in idx.enumerated() {
                var rem = i, o = 0
                for d in 0..<given.count {
                    let coord = rem / from[d]
                    rem -= coord * from[d]
                    guard coord < given[d] else { throw KernelError("MaxUnpool output_shape \(given) is smaller than the unpooled shape \(defaultShape)") }
                    o += coord * to[d]
                }
                flat[j] = o
            }
        }
    }
    let total = try Shape.elementCount(outShape)
    guard let storage = x.dtype.withNumericType({ T in nnUnpoolStorage(T.self, x.storage, flat, total) }) else {
        throw KernelError("MaxUnpool does not support dtype \(x.dtype)")
    }
    return Tensor(unchecked: outShape, storage: storage)
}

private func nnUnpoolStorage<T: NumericElement>(_: T.Type, _ s: TensorStorage, _ idx: [Int], _ total: Int) -> TensorStorage {
    let v = T.values(in: s) ?? []
    var y = [T](repeating: T.zero, count: total)
    for (j, i) in idx.enumerated() where j < v.count { y[i] = v[j] }
    return T.storage(y)
}

extension KernelRegistry {
    /// Registers MaxUnpool (opsets 9 and 11).
    mutating func registerMaxUnpoolKernels() {
        register("MaxUnpool", opsets: 9...Int.max) { node, _ in
            guard let kernel = try node.ints("kernel_shape") else { throw KernelError("MaxUnpool requires kernel_shape") }
            let strides = try node.ints("strides"), pads = try node.ints("pads")
            return { inputs, _ in [try nnMaxUnpool(inputs, kernel: kernel, strides: strides, pads: pads)] }
        }
    }
}
