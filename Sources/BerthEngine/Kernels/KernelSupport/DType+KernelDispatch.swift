import BerthTensor

extension DType {
    /// ``DType/dispatchNumeric(_:)`` for kernels: bool and string are a ``KernelError`` naming `op`.
    func dispatchNumeric<B: NumericDTypeBody>(_ body: B, op: String) throws -> B.Result {
        guard let result = try dispatchNumeric(body) else { throw KernelError("\(op) does not support dtype \(self)") }
        return result
    }
}
