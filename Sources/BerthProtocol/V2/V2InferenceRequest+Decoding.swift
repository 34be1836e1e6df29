import BerthTensor
import NIOCore

extension V2InferenceRequest {
    /// Largest element count one input may declare. The real bound is the body size; this keeps
    /// every product of dimensions far from overflow.
    public static let maxElements = 1 << 31

    /// Decodes a request body for `model` and checks it once, at the edge: every input named, typed
    /// and shaped as the model declares, element counts matching shapes, binary sizes within the
    /// body. `headerLength` is the `Inference-Header-Content-Length` header, when present.
    ///
    /// Every size read from the request is compared with the bytes actually present before
    /// memory is reserved for it.
    public init(body: ByteBuffer, headerLength: Int?, model: ModelInterface) throws {
        let total = body.readableBytes
        let jsonLength: Int
        if let headerLength {
            guard headerLength > 0, headerLength <= total else {
                throw V2RequestError("Inference-Header-Content-Length \(headerLength) is outside the body of \(total) bytes")
            }
            jsonLength = headerLength
        } else {
            jsonLength = total
        }
        guard jsonLength > 0 else { throw V2RequestError("malformed JSON: the request body is empty") }
        self = try body.withUnsafeReadableBytes { raw in
            let all = raw.bindMemory(to: UInt8.self)
            var decoder = RequestDecoder(json: UnsafeBufferPointer(rebasing: all[0..<jsonLength]),
                                         binary: UnsafeBufferPointer(rebasing: all[jsonLength..<total]), model: model)
            return try decoder.decode()
        }
    }
}

/// Reads one request: the JSON header through ``JSONReader`` (tensor `data` arrays kept as byte
/// ranges and decoded straight into typed arrays), binary tensors from the bytes after it.
struct RequestDecoder {
    var reader: JSONReader
    let binary: UnsafeBufferPointer<UInt8>
    let model: ModelInterface

    init(json: UnsafeBufferPointer<UInt8>, binary: UnsafeBufferPointer<UInt8>, model: ModelInterface) {
        reader = JSONReader(json)
        self.binary = binary
        self.model = model
    }

    mutating func decode() throws -> V2InferenceRequest {
        let root: JSONValue
        do { root = try reader.parse(lazyKey: "data") } catch let e as JSONSyntaxError { throw V2RequestError("\(e)") }
        guard case .object = root else { throw V2RequestError("the request body must be a JSON object, got \(root.typeName)") }
        var request = V2InferenceRequest(inputs: [])
        if let id = root["id"], !id.isNull {
            guard let s = id.stringValue else { throw V2RequestError("'id' must be a string") }
            request.id = s
        }
        if let params = root["parameters"], !params.isNull {
            guard case .object = params else { throw V2RequestError("'parameters' must be an object") }
            if let b = params["binary_data_output"], !b.isNull {
                guard let v = b.boolValue else { throw V2RequestError("parameter 'binary_data_output' must be a boolean") }
                request.binaryDataOutput = v
            }
            if let p = params["priority"], !p.isNull {
                guard let v = p.intValue, v >= 0 else { throw V2RequestError("parameter 'priority' must be a non-negative integer") }
                request.priority = v
            }
        }
        guard let inputsValue = root["inputs"] else { throw V2RequestError("the request has no 'inputs'") }
        guard let inputList = inputsValue.arrayValue, !inputList.isEmpty else {
            throw V2RequestError("'inputs' must be a non-empty array")
        }
        var binaryOffset = 0
        var feeds: [String: Tensor] = [:]
        for (i, item) in inputList.enumerated() {
            let input = try decodeInput(item, index: i, binaryOffset: &binaryOffset, seen: feeds)
            feeds[input.name] = input.tensor
            request.inputs.append(input)
        }
        if binaryOffset != binary.count {
            throw V2RequestError("the body has \(binary.count - binaryOffset) bytes of binary data no input claims "
                                 + "(check binary_data_size and Inference-Header-Content-Length)")
        }
        try model.checkComplete(feeds)
        request.rows = model.rows(of: feeds)
        if let outs = root["outputs"], !outs.isNull { request.outputs = try decodeOutputs(outs) }
        return request
    }

    private mutating func decodeInput(_ item: JSONValue, index i: Int, binaryOffset: inout Int,
                                      seen: [String: Tensor]) throws -> V2InferenceRequest.Input {
        guard case .object = item else { throw V2RequestError("inputs[\(i)] must be an object") }
        guard let name = item["name"]?.stringValue else { throw V2RequestError("inputs[\(i)] has no string 'name'") }
        guard let dtName = item["datatype"]?.stringValue else { throw V2RequestError("input '\(name)' has no string 'datatype'") }
        let checked = try model.checkInput(name: name, datatype: dtName, shape: try decodeShape(item, name: name),
                                           alreadyGiven: seen[name] != nil)
        let (dtype, shape, count) = (checked.dtype, checked.shape, checked.count)
        var binarySize: Int?
        if let p = item["parameters"], !p.isNull {
            guard case .object = p else { throw V2RequestError("input '\(name)': 'parameters' must be an object") }
            if let b = p["binary_data_size"], !b.isNull {
                guard let n = b.intValue, n >= 0 else {
                    throw V2RequestError("input '\(name)': 'binary_data_size' must be a non-negative integer")
                }
                binarySize = n
            }
        }
        let storage: TensorStorage
        if let size = binarySize {
            // Compared with what is left, never added to the offset first: a size near Int.max must not overflow.
            let left = binary.count - binaryOffset
            guard size <= left else {
                throw V2RequestError("input '\(name)': binary_data_size \(size) exceeds the \(left) binary bytes left in the body")
            }
            let chunk = UnsafeBufferPointer(rebasing: binary[binaryOffset..<binaryOffset + size])
            binaryOffset += size
            storage = try BinaryTensorCodec.decode(chunk, dtype: dtype, count: count, name: name, shape: shape)
        } else {
            guard let data = item["data"] else { throw V2RequestError("input '\(name)' has neither 'data' nor 'binary_data_size'") }
            storage = try JSONTensorData.decode(data, reader: &reader, dtype: dtype, count: count, name: name, shape: shape)
        }
        return .init(name: name, tensor: Tensor(unchecked: shape, storage: storage))
    }

    /// The `shape` array as integers; ``ModelInterface/checkInput(name:datatype:shape:alreadyGiven:)`` checks it.
    private func decodeShape(_ item: JSONValue, name: String) throws -> [Int] {
        guard let shapeList = item["shape"]?.arrayValue else { throw V2RequestError("input '\(name)' has no 'shape' array") }
        var shape: [Int] = []
        shape.reserveCapacity(shapeList.count)
        for d in shapeList {
            guard let n = d.intValue, n >= 0 else { throw V2RequestError("input '\(name)': shape must hold non-negative integers") }
            shape.append(n)
        }
        return shape
    }

    private func decodeOutputs(_ outs: JSONValue) throws -> [V2InferenceRequest.RequestedOutput] {
        guard let list = outs.arrayValue else { throw V2RequestError("'outputs' must be an array") }
        var requested: [V2InferenceRequest.RequestedOutput] = []
        for (i, o) in list.enumerated() {
            guard let name = o["name"]?.stringValue else { throw V2RequestError("outputs[\(i)] has no string 'name'") }
            try model.checkOutput(name)
            var r = V2InferenceRequest.RequestedOutput(name: name)
            if let p = o["parameters"], !p.isNull {
                guard case .object = p else { throw V2RequestError("output '\(name)': 'parameters' must be an object") }
                if let b = p["binary_data"], !b.isNull {
                    guard let v = b.boolValue else { throw V2RequestError("output '\(name)': 'binary_data' must be a boolean") }
                    r.binary = v
                }
                if let c = p["classification"], !c.isNull {
                    guard let n = c.intValue, n >= 0 else {
                        throw V2RequestError("output '\(name)': 'classification' must be a non-negative integer")
                    }
                    r.classCount = n == 0 ? nil : n
                }
            }
            requested.append(r)
        }
        return requested
    }
}
