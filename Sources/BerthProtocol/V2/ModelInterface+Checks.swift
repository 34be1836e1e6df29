import BerthTensor

/// One input declaration that passed ``ModelInterface/checkInput(name:datatype:shape:alreadyGiven:)``:
/// what its data must hold. Nothing is allocated until a decoder compares ``count`` with the
/// bytes or values actually sent.
public struct CheckedInput: Sendable {
    /// The model's declaration of the input.
    public var spec: TensorSpec
    /// The element type the request declared (equal to the model's when the model fixes it).
    public var dtype: DType
    /// The declared shape.
    public var shape: [Int]
    /// Elements the shape holds.
    public var count: Int
}

extension ModelInterface {
    /// The checks every wire format (REST JSON, binary extension, gRPC) applies to one input before
    /// reading its data: a known name given once, a supported datatype equal to the model's, a
    /// non-negative shape that fits the model's and whose element count stays far from overflow.
    /// `alreadyGiven` says whether an input of that name came earlier in the request.
    public func checkInput(name: String, datatype: String, shape: [Int], alreadyGiven: Bool) throws -> CheckedInput {
        guard let spec = inputs.first(where: { $0.name == name }) else {
            throw V2RequestError("unknown input '\(name)' for model '\(self.name)'; the model's inputs are "
                                 + inputs.map { "'\($0.name)'" }.joined(separator: ", "))
        }
        guard !alreadyGiven else { throw V2RequestError("input '\(name)' is given twice") }
        guard let dtype = DType(v2Name: datatype) else { throw V2RequestError("input '\(name)': unsupported datatype '\(datatype)'") }
        if let expected = spec.dtype, expected != dtype {
            throw V2RequestError("input '\(name)': datatype \(datatype) does not match the model's \(expected.v2Name)")
        }
        guard shape.allSatisfy({ $0 >= 0 }) else { throw V2RequestError("input '\(name)': shape must hold non-negative integers") }
        if let dims = spec.shape {
            var ok = dims.count == shape.count
            if ok { for (d, n) in zip(dims, shape) { if let v = d, v != n { ok = false } } }
            if !ok {
                throw V2RequestError("input '\(name)': shape \(shape) does not match the model's "
                                     + "[\(dims.map { $0.map(String.init) ?? "-1" }.joined(separator: ", "))]")
            }
        }
        // The product of the non-zero dimensions is bounded too: [2^31, 0] carries no data, but an
        // op that reduces the empty axis would still allocate for the other one.
        var count = 1
        var nonZero = 1
        for d in shape {
            let (c, o) = count.multipliedReportingOverflow(by: d)
            let (z, oz) = nonZero.multipliedReportingOverflow(by: max(d, 1))
            guard !o, !oz, z <= V2InferenceRequest.maxElements else {
                throw V2RequestError("input '\(name)': shape \(shape) is too large")
            }
            count = c
            nonZero = z
        }
        return CheckedInput(spec: spec, dtype: dtype, shape: shape, count: count)
    }

    /// Throws for the first model input the request did not give.
    public func checkComplete(_ feeds: [String: Tensor]) throws {
        for spec in inputs where feeds[spec.name] == nil {
            throw V2RequestError("missing input '\(spec.name)' for model '\(name)'")
        }
    }

    /// Throws unless the model has an output called `output`.
    public func checkOutput(_ output: String) throws {
        guard outputs.contains(where: { $0.name == output }) else {
            throw V2RequestError("unknown output '\(output)' for model '\(name)'; the model's outputs are "
                                 + outputs.map { "'\($0.name)'" }.joined(separator: ", "))
        }
    }
}
