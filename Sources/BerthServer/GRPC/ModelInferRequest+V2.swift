import BerthProtocol
import BerthTensor
import Foundation

extension Inference_ModelInferRequest {
    /// Decodes the request for `model` and checks it once, with the checks the REST decoder uses
    /// (``ModelInterface/checkInput(name:datatype:shape:alreadyGiven:)``): every input's declared
    /// shape is compared with the values or bytes it carries before anything is allocated. An
    /// input's data is either typed `contents` or, for every input at once, `raw_input_contents`
    /// (Triton's layout: little-endian elements, BYTES as 4-byte length + bytes).
    func v2Request(for model: ModelInterface) throws -> V2InferenceRequest {
        guard !inputs.isEmpty else { throw V2RequestError("the request has no inputs") }
        if !rawInputContents.isEmpty, rawInputContents.count != inputs.count {
            throw V2RequestError("raw_input_contents has \(rawInputContents.count) entries for \(inputs.count) inputs "
                                 + "(give raw data for every input or for none)")
        }
        var request = V2InferenceRequest(id: id.isEmpty ? nil : id, inputs: [])
        if let p = parameters["priority"] {
            switch p.parameterChoice {
            case let .uint64Param(v)?: request.priority = Int(clamping: v)
            case let .int64Param(v)? where v >= 0: request.priority = Int(clamping: v)
            default: throw V2RequestError("parameter 'priority' must be a non-negative integer")
            }
        }
        var feeds: [String: Tensor] = [:]
        for (i, input) in inputs.enumerated() {
            var shape: [Int] = []
            shape.reserveCapacity(input.shape.count)
            for d in input.shape {
                guard d >= 0, d <= Int64(Int.max) else {
                    throw V2RequestError("input '\(input.name)': shape must hold non-negative integers")
                }
                shape.append(Int(d))
            }
            let checked = try model.checkInput(name: input.name, datatype: input.datatype, shape: shape,
                                               alreadyGiven: feeds[input.name] != nil)
            let storage: TensorStorage
            if rawInputContents.isEmpty {
                guard input.hasContents else {
                    throw V2RequestError("input '\(input.name)' has neither contents nor raw_input_contents")
                }
                storage = try input.contents.storage(for: checked)
            } else {
                if input.hasContents {
                    throw V2RequestError("input '\(input.name)' has contents although the request sends raw_input_contents")
                }
                storage = try rawInputContents[i].withUnsafeBytes { raw in
                    try BinaryTensorCodec.decode(raw.bindMemory(to: UInt8.self), dtype: checked.dtype, count: checked.count,
                                                 name: input.name, shape: checked.shape)
                }
            }
            let tensor = Tensor(unchecked: checked.shape, storage: storage)
            feeds[input.name] = tensor
            request.inputs.append(.init(name: input.name, tensor: tensor))
        }
        try model.checkComplete(feeds)
        request.rows = model.rows(of: feeds)
        if !outputs.isEmpty {
            request.outputs = try outputs.map { o in
                try model.checkOutput(o.name)
                var r = V2InferenceRequest.RequestedOutput(name: o.name)
                if let p = o.parameters["classification"] {
                    let n: Int64?
                    switch p.parameterChoice {
                    case let .int64Param(v)?: n = v
                    case let .uint64Param(v)?: n = v <= UInt64(Int64.max) ? Int64(v) : nil
                    default: n = nil
                    }
                    guard let n, n >= 0 else {
                        throw V2RequestError("output '\(o.name)': 'classification' must be a non-negative integer")
                    }
                    r.classCount = n == 0 ? nil : Int(clamping: n)
                }
                return r
            }
        }
        return request
    }
}

extension Inference_InferTensorContents {
    /// The elements of the field that `checked`'s datatype uses (KServe: INT8/16/32 in
    /// `int_contents`, UINT8/16/32 in `uint_contents`, FP16 only raw), exactly `checked.count` of
    /// them. The values are already in memory, decoded by protobuf, so the count check only
    /// guards the model against a shape that lies.
    func storage(for checked: CheckedInput) throws -> TensorStorage {
        let name = checked.spec.name
        func exact<T>(_ values: [T], _ field: String) throws -> [T] {
            guard values.count == checked.count else {
                throw V2RequestError("input '\(name)': shape \(checked.shape) needs \(checked.count) elements, \(field) holds \(values.count)")
            }
            return values
        }
        func narrow<S: BinaryInteger, T: FixedWidthInteger>(_ values: [S], _ field: String, _: T.Type) throws -> [T] {
            try exact(values, field).map { v in
                guard let t = T(exactly: v) else { throw V2RequestError("input '\(name)': \(field) value \(v) is out of range for \(checked.dtype.v2Name)") }
                return t
            }
        }
        switch checked.dtype {
        case .bool: return .bool(try exact(boolContents, "bool_contents"))
        case .int8: return .int8(try narrow(intContents, "int_contents", Int8.self))
        case .int16: return .int16(try narrow(intContents, "int_contents", Int16.self))
        case .int32: return .int32(try exact(intContents, "int_contents"))
        case .int64: return .int64(try exact(int64Contents, "int64_contents"))
        case .uint8: return .uint8(try narrow(uintContents, "uint_contents", UInt8.self))
        case .uint16: return .uint16(try narrow(uintContents, "uint_contents", UInt16.self))
        case .uint32: return .uint32(try exact(uintContents, "uint_contents"))
        case .uint64: return .uint64(try exact(uint64Contents, "uint64_contents"))
        case .float32: return .float32(try exact(fp32Contents, "fp32_contents"))
        case .float64: return .float64(try exact(fp64Contents, "fp64_contents"))
        case .string: return .string(try exact(bytesContents, "bytes_contents").map { String(decoding: $0, as: UTF8.self) })
        case .float16:
            throw V2RequestError("input '\(name)': FP16 has no typed contents field; send it in raw_input_contents")
        }
    }
}

extension V2InferenceResponse {
    /// The answer as gRPC sends it: every output's bytes in `raw_output_contents`, in output
    /// order, as Triton does (tritonclient reads them; BYTES length-prefixed).
    var grpcResponse: Inference_ModelInferResponse {
        var r = Inference_ModelInferResponse()
        r.modelName = modelName
        r.modelVersion = modelVersion
        r.id = id ?? ""
        r.outputs = outputs.map { o in
            var t = Inference_ModelInferResponse.InferOutputTensor()
            t.name = o.name
            t.datatype = o.tensor.dtype.v2Name
            t.shape = o.tensor.shape.map(Int64.init)
            return t
        }
        r.rawOutputContents = outputs.map { BinaryTensorCodec.data($0.tensor.storage) }
        return r
    }
}
