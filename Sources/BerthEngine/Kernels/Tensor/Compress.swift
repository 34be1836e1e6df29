import BerthONNX
import BerthTensor

/// Compress: the slices along `axis` (or the elements of the flattened input) whose condition is
/// true. A condition shorter than the axis selects from its first entries only, as in NumPy.
extension TensorFamily {
    static func compress(_ x: Tensor, _ condition: Tensor, axis axisAttr: Int?, pool: ThreadPool) throws -> Tensor {
        guard condition.rank == 1, case let .bool(cond) = condition.storage else {
            throw KernelError("Compress condition must be a 1-D bool tensor, got \(condition.dtype)\(condition.shape)")
        }
        let data = axisAttr == nil ? try x.reshaped([x.count]) : x
        let axis = try TensorFamily.axis(axisAttr ?? 0, rank: data.rank, "Compress axis")
        let dim = data.shape[axis]
        guard cond.count <= dim || !cond[dim...].contains(true) else {
            throw KernelError("Compress condition selects index \(cond.lastIndex(of: true)!) beyond axis \(axis) of length \(dim)")
        }
        let strides = TensorFamily.strides(data.shape)
        let picked = cond.prefix(dim).enumerated().filter { $0.element }.map { $0.offset &* strides[axis] }
        var outShape = data.shape
        outShape[axis] = picked.count
        var axes = (0..<data.rank).map { TFAxis.affine(offset: 0, stride: strides[$0]) }
        axes[axis] = .table(picked)
        return try gather(data.storage, dims: outShape, axes: axes, outShape: outShape, pool: pool)
    }

    static func registerCompress(_ r: inout KernelRegistry) {
        r.register("Compress", opsets: 9...Int.max) { node, _ in
            let axis: Int? = node.attributes["axis"] == nil ? nil : try node.int("axis")
            return { inputs, ctx in [try compress(try inputs.required(0), try inputs.required(1), axis: axis, pool: ctx.pool)] }
        }
    }
}
