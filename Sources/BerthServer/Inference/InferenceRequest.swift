import BerthEngine
import BerthONNX
import BerthTensor
import Foundation
import Hummingbird

/// A decoded Open Inference Protocol request, validated against the model: every input named,
/// typed and shaped as the model declares, element counts matching shapes.
///
/// Decodes the JSON body and Triton's binary tensor extension (the JSON header's length in the
/// `Inference-Header-Content-Length` header, each binary input flagged with the
/// `binary_data_size` parameter, raw little-endian tensors after the JSON in input order).
/// Numeric `data` arrays (flat or nested) are decoded straight into typed arrays.
struct InferenceRequest {
    /// An output the client asked for.
    struct RequestedOutput {
        var name: String
        /// The `binary_data` parameter; nil when absent.
        var binary: Bool?
    }

    /// The request `id`, echoed in the response.
    var id: String?
    /// The model inputs by name.
    var inputs: [String: Tensor] = [:]
    /// The requested outputs in request order; nil means all outputs.
    var outputs: [RequestedOutput]?
    /// The request-level `binary_data_output` parameter.
    var binaryDataOutput = false
    /// Rows of the first input (dim 0), for statistics.
    var rows = 1

    /// Decodes `body` for the model of `servable`. `headerLength` is the
    /// `Inference-Header-Content-Length` header, when present.
    init(body: ByteBuffer, headerLength: Int?, servable: Servable) throws {
        let total = body.readableBytes
        let jsonLength: Int
        if let headerLength {
            guard headerLength > 0, headerLength <= total else {
                throw ServerError.badRequest("Inference-Header-Content-Length \(headerLength) is outside the body of \(total) bytes")
            }
            jsonLength = headerLength
        } else {
            jsonLength = total
        }
        guard jsonLength > 0 else { throw ServerError.badRequest("malformed JSON: the request body is empty") }
        try body.withUnsafeReadableBytes { raw in
            let all = raw.bindMemory(to: UInt8.self)
            let json = UnsafeBufferPointer(rebasing: all[0..<jsonLength])
            let binary = UnsafeBufferPointer(rebasing: all[jsonLength..<total])
            try self.decode(json: json, binary: binary, servable: servable)
        }
    }

    private mutating func decode(json: UnsafeBufferPointer<UInt8>, binary: UnsafeBufferPointer<UInt8>, servable: Servable) throws {
        var reader = JSONReader(json)
        let root: JSONValue
        do { root = try reader.parse(lazyKey: "data") } catch let e as JSONSyntaxError {
            throw ServerError.badRequest("\(e)")
        }
        guard case .object = root else { throw ServerError.badRequest("the request body must be a JSON object, got \(root.typeName)") }

        if let id = root["id"], !id.isNull {
            guard let s = id.stringValue else { throw ServerError.badRequest("'id' must be a string") }
            self.id = s
        }
        if let params = root["parameters"], !params.isNull {
            guard case .object = params else { throw ServerError.badRequest("'parameters' must be an object") }
            if let b = params["binary_data_output"], !b.isNull {
                guard let v = b.boolValue else { throw ServerError.badRequest("parameter 'binary_data_output' must be a boolean") }
                binaryDataOutput = v
            }
        }
        guard let inputsValue = root["inputs"] else { throw ServerError.badRequest("the request has no 'inputs'") }
        guard let inputList = inputsValue.arrayValue, !inputList.isEmpty else {
            throw ServerError.badRequest("'inputs' must be a non-empty array")
        }
        let session = servable.session
        var binaryOffset = 0
        for (i, item) in inputList.enumerated() {
            guard case .object = item else { throw ServerError.badRequest("inputs[\(i)] must be an object") }
            guard let name = item["name"]?.stringValue else { throw ServerError.badRequest("inputs[\(i)] has no string 'name'") }
            guard let info = session.inputs.first(where: { $0.name == name }) else {
                throw ServerError.badRequest("unknown input '\(name)' for model '\(servable.model)'; the model's inputs are "
                                             + session.inputs.map { "'\($0.name)'" }.joined(separator: ", "))
            }
            guard inputs[name] == nil else { throw ServerError.badRequest("input '\(name)' is given twice") }
            guard let dtName = item["datatype"]?.stringValue else {
                throw ServerError.badRequest("input '\(name)' has no string 'datatype'")
            }
            guard let dtype = DType(v2Name: dtName) else {
                throw ServerError.badRequest("input '\(name)': unsupported datatype '\(dtName)'")
            }
            if let expected = info.dtype, expected != dtype {
                throw ServerError.badRequest("input '\(name)': datatype \(dtName) does not match the model's \(expected.v2Name)")
            }
            guard let shapeList = item["shape"]?.arrayValue else {
                throw ServerError.badRequest("input '\(name)' has no 'shape' array")
            }
            var shape: [Int] = []
            shape.reserveCapacity(shapeList.count)
            for d in shapeList {
                guard let n = d.intValue, n >= 0 else {
                    throw ServerError.badRequest("input '\(name)': shape must hold non-negative integers")
                }
                shape.append(n)
            }
            if let dims = info.shape {
                var ok = dims.count == shape.count
                if ok { for (d, n) in zip(dims, shape) { if let v = d.value, v != n { ok = false } } }
                if !ok {
                    throw ServerError.badRequest("input '\(name)': shape \(shape) does not match the model's "
                                                 + "[\(dims.map { $0.value.map(String.init) ?? "-1" }.joined(separator: ", "))]")
                }
            }
            var count = 1
            for d in shape {
                let (c, o) = count.multipliedReportingOverflow(by: d)
                guard !o, c <= 1 << 31 else { throw ServerError.badRequest("input '\(name)': shape \(shape) is too large") }
                count = c
            }
            var binarySize: Int? = nil
            if let p = item["parameters"], !p.isNull {
                guard case .object = p else { throw ServerError.badRequest("input '\(name)': 'parameters' must be an object") }
                if let b = p["binary_data_size"], !b.isNull {
                    guard let n = b.intValue, n >= 0 else {
                        throw ServerError.badRequest("input '\(name)': 'binary_data_size' must be a non-negative integer")
                    }
                    binarySize = n
                }
            }
            let storage: TensorStorage
            if let size = binarySize {
                guard binaryOffset + size <= binary.count else {
                    throw ServerError.badRequest("input '\(name)': binary_data_size \(size) exceeds the \(binary.count - binaryOffset) "
                                                 + "binary bytes left in the body")
                }
                let chunk = UnsafeBufferPointer(rebasing: binary[binaryOffset..<binaryOffset + size])
                binaryOffset += size
                storage = try Self.decodeBinary(chunk, dtype: dtype, count: count, name: name, shape: shape)
            } else {
                guard let data = item["data"] else { throw ServerError.badRequest("input '\(name)' has neither 'data' nor 'binary_data_size'") }
                storage = try Self.decodeJSON(data, reader: &reader, dtype: dtype, count: count, name: name, shape: shape)
            }
            inputs[name] = Tensor(unchecked: shape, storage: storage)
            if i == 0 { rows = shape.first ?? 1 }
        }
        if binaryOffset != binary.count {
            throw ServerError.badRequest("the body has \(binary.count - binaryOffset) bytes of binary data no input claims "
                                         + "(check binary_data_size and Inference-Header-Content-Length)")
        }
        for info in session.inputs where inputs[info.name] == nil {
            throw ServerError.badRequest("missing input '\(info.name)' for model '\(servable.model)'")
        }
        if let outs = root["outputs"], !outs.isNull {
            guard let list = outs.arrayValue else { throw ServerError.badRequest("'outputs' must be an array") }
            var requested: [RequestedOutput] = []
            for (i, o) in list.enumerated() {
                guard let name = o["name"]?.stringValue else { throw ServerError.badRequest("outputs[\(i)] has no string 'name'") }
                guard session.outputs.contains(where: { $0.name == name }) else {
                    throw ServerError.badRequest("unknown output '\(name)' for model '\(servable.model)'; the model's outputs are "
                                                 + session.outputs.map { "'\($0.name)'" }.joined(separator: ", "))
                }
                var r = RequestedOutput(name: name, binary: nil)
                if let p = o["parameters"], !p.isNull {
                    guard case .object = p else { throw ServerError.badRequest("output '\(name)': 'parameters' must be an object") }
                    if let b = p["binary_data"], !b.isNull {
                        guard let v = b.boolValue else { throw ServerError.badRequest("output '\(name)': 'binary_data' must be a boolean") }
                        r.binary = v
                    }
                    if let c = p["classification"], !c.isNull {
                        throw ServerError.badRequest("output '\(name)': the classification extension is not supported")
                    }
                }
                requested.append(r)
            }
            outputs = requested
        }
    }

    // MARK: Binary tensors

    static func decodeBinary(_ bytes: UnsafeBufferPointer<UInt8>, dtype: DType, count: Int, name: String, shape: [Int]) throws -> TensorStorage {
        if dtype == .string {
            var strings: [String] = []
            strings.reserveCapacity(count)
            var p = 0
            while p < bytes.count {
                guard p + 4 <= bytes.count else { throw ServerError.badRequest("input '\(name)': truncated BYTES length prefix") }
                let len = Int(UInt32(bytes[p]) | UInt32(bytes[p + 1]) << 8 | UInt32(bytes[p + 2]) << 16 | UInt32(bytes[p + 3]) << 24)
                p += 4
                guard p + len <= bytes.count else { throw ServerError.badRequest("input '\(name)': BYTES element overruns binary_data_size") }
                strings.append(String(decoding: UnsafeBufferPointer(rebasing: bytes[p..<p + len]), as: UTF8.self))
                p += len
            }
            guard strings.count == count else {
                throw ServerError.badRequest("input '\(name)': shape \(shape) needs \(count) elements, binary data holds \(strings.count)")
            }
            return .string(strings)
        }
        let need = count * dtype.byteSize
        guard bytes.count == need else {
            throw ServerError.badRequest("input '\(name)': binary_data_size \(bytes.count) does not match shape \(shape) of "
                                         + "\(dtype.v2Name) (needs \(need) bytes)")
        }
        if dtype == .bool { return .bool(bytes.map { $0 != 0 }) }
        func load<T: TensorElement>(_: T.Type) -> TensorStorage {
            T.storage([T](unsafeUninitializedCapacity: count) { buf, n in
                if count > 0 { memcpy(buf.baseAddress!, bytes.baseAddress!, need) }
                n = count
            })
        }
        return dtype.withElementType { load($0) }
    }

    // MARK: JSON tensors

    static func decodeJSON(_ data: JSONValue, reader: inout JSONReader, dtype: DType, count: Int, name: String, shape: [Int]) throws -> TensorStorage {
        let range: Range<Int>
        switch data {
        case let .raw(r): range = r
        case .number, .bool, .string:
            // A bare scalar: re-read it as a one-element array would be; only valid for one element.
            guard count == 1 else { throw ServerError.badRequest("input '\(name)': 'data' must be an array") }
            switch (data, dtype) {
            case let (.string(s), .string): return .string([s])
            case let (.bool(b), .bool): return .bool([b])
            case let (.number(d, i), _) where dtype != .string && dtype != .bool:
                return try convertScalar(d, exact: i, dtype: dtype, name: name)
            default: throw ServerError.badRequest("input '\(name)': 'data' holds a \(data.typeName), not \(dtype.v2Name) values")
            }
        default:
            throw ServerError.badRequest("input '\(name)': 'data' must be an array, got \(data.typeName)")
        }
        let bytes = reader.bytes
        var got = 0
        func mismatch() -> ServerError {
            ServerError.badRequest("input '\(name)': shape \(shape) needs \(count) elements, 'data' holds \(got)")
        }
        func wrongType(_ r: JSONReader) -> ServerError {
            let c = r.bytes[r.pos]
            let found: String
            switch c {
            case UInt8(ascii: "\""): found = "a string"
            case UInt8(ascii: "t"), UInt8(ascii: "f"): found = "a boolean"
            case UInt8(ascii: "n"): found = "null"
            case UInt8(ascii: "{"): found = "an object"
            default: found = "a number"
            }
            return ServerError.badRequest("input '\(name)': 'data' holds \(found) where \(dtype.v2Name) values are expected")
        }
        @inline(__always) func isNumberStart(_ c: UInt8) -> Bool {
            (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || c == UInt8(ascii: "-") || c == UInt8(ascii: "N") || c == UInt8(ascii: "I")
        }

        func numbers<T>(_ convert: (NumberToken) throws -> T) throws -> [T] {
            var out: [T] = []
            out.reserveCapacity(count)
            try reader.forEachLeaf(in: range) { r in
                guard isNumberStart(r.bytes[r.pos]) else { throw wrongType(r) }
                let t = try r.numberToken()
                if out.count < count { out.append(try convert(t)) }
                got += 1
            }
            guard got == count else { throw mismatch() }
            return out
        }
        func integer(_ t: NumberToken) throws -> Int64 {
            if let i = t.exactInt64 { return i }
            let d = t.double(bytes)
            guard d.isFinite, d == d.rounded(), d >= -9.223372036854775e18, d < 9.223372036854775e18 else {
                throw ServerError.badRequest("input '\(name)': \(String(decoding: UnsafeBufferPointer(rebasing: bytes[t.start..<t.end]), as: UTF8.self)) is not a valid \(dtype.v2Name)")
            }
            return Int64(d)
        }
        func narrow<I: FixedWidthInteger>(_: I.Type) throws -> [I] {
            try numbers { t in
                let v = try integer(t)
                guard let x = I(exactly: v) else { throw ServerError.badRequest("input '\(name)': \(v) is out of range for \(dtype.v2Name)") }
                return x
            }
        }

        do {
            switch dtype {
            case .float32: return .float32(try numbers { $0.float(bytes) })
            case .float64: return .float64(try numbers { $0.double(bytes) })
            case .float16: return .float16(try numbers { Float16($0.float(bytes)) })
            case .int64: return .int64(try numbers(integer))
            case .int32: return .int32(try narrow(Int32.self))
            case .int16: return .int16(try narrow(Int16.self))
            case .int8: return .int8(try narrow(Int8.self))
            case .uint8: return .uint8(try narrow(UInt8.self))
            case .uint16: return .uint16(try narrow(UInt16.self))
            case .uint32: return .uint32(try narrow(UInt32.self))
            case .uint64:
                return .uint64(try numbers { t in
                    if t.isInteger, !t.negative, t.special == nil {
                        if !t.truncated, t.exp10 == 0 { return t.mantissa }
                        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[t.start..<t.end]), as: UTF8.self)
                        if let v = UInt64(text) { return v }
                    }
                    let v = try integer(t)
                    guard let x = UInt64(exactly: v) else { throw ServerError.badRequest("input '\(name)': \(v) is out of range for UINT64") }
                    return x
                })
            case .bool:
                var out: [Bool] = []
                out.reserveCapacity(count)
                try reader.forEachLeaf(in: range) { r in
                    let c = r.bytes[r.pos]
                    let v: Bool
                    if c == UInt8(ascii: "t") { try r.literal("true"); v = true } else if c == UInt8(ascii: "f") { try r.literal("false"); v = false } else { throw wrongType(r) }
                    if out.count < count { out.append(v) }
                    got += 1
                }
                guard got == count else { throw mismatch() }
                return .bool(out)
            case .string:
                var out: [String] = []
                out.reserveCapacity(count)
                try reader.forEachLeaf(in: range) { r in
                    guard r.bytes[r.pos] == UInt8(ascii: "\"") else { throw wrongType(r) }
                    let s = try r.string()
                    if out.count < count { out.append(s) }
                    got += 1
                }
                guard got == count else { throw mismatch() }
                return .string(out)
            }
        } catch let e as JSONSyntaxError {
            throw ServerError.badRequest("input '\(name)': \(e)")
        }
    }

    static func convertScalar(_ d: Double, exact: Int64?, dtype: DType, name: String) throws -> TensorStorage {
        func int<I: FixedWidthInteger>(_: I.Type) throws -> I {
            if let e = exact, let v = I(exactly: e) { return v }
            if exact == nil, d == d.rounded(), let v = I(exactly: d) { return v }
            throw ServerError.badRequest("input '\(name)': \(d) is not a valid \(dtype.v2Name)")
        }
        switch dtype {
        case .float32: return .float32([Float(d)])
        case .float64: return .float64([d])
        case .float16: return .float16([Float16(d)])
        case .int8: return .int8([try int(Int8.self)])
        case .uint8: return .uint8([try int(UInt8.self)])
        case .int16: return .int16([try int(Int16.self)])
        case .uint16: return .uint16([try int(UInt16.self)])
        case .int32: return .int32([try int(Int32.self)])
        case .uint32: return .uint32([try int(UInt32.self)])
        case .int64: return .int64([try int(Int64.self)])
        case .uint64: return .uint64([try int(UInt64.self)])
        case .bool, .string: throw ServerError.badRequest("input '\(name)': 'data' must be an array")
        }
    }
}
