import BerthTensor

/// `values` as a tensor of `dtype`: floating point, or integers truncated toward zero as a cast
/// would. For kernels that compute in Double and return the input's (or an attribute's) type.
func doublesTensor(_ values: [Double], shape: [Int], dtype: DType) throws -> Tensor {
    let storage: TensorStorage
    switch dtype {
    case .float32: storage = .float32(values.map { Float($0) })
    case .float64: storage = .float64(values)
    case .float16: storage = .float16(values.map { Float16($0) })
    case .int32: storage = .int32(values.map { Int32($0) })
    case .int64: storage = .int64(values.map { Int64($0) })
    default: throw KernelError("output type \(dtype) is not supported here (float16, float32, float64, int32, int64)")
    }
    return try Tensor(shape: shape, storage: storage)
}
