import BerthTensor

/// Tensor `data` arrays of a JSON request (flat or nested), decoded from the byte range the reader
/// kept straight into typed storage.
enum JSONTensorData {
    static func decode(_ data: JSONValue, reader: inout JSONReader, dtype: DType, count: Int, name: String, shape: [Int]) throws -> TensorStorage {
        let range: Range<Int>
        switch data {
        case let .raw(r): range = r
        case .number, .bool, .string:
            // A bare scalar: re-read it as a one-element array would be; only valid for one element.
            guard count == 1 else { throw V2RequestError("input '\(name)': 'data' must be an array") }
            switch (data, dtype) {
            case let (.string(s), .string): return .string([s])
            case let (.bool(b), .bool): return .bool([b])
            case let (.number(d, i), _) where dtype != .string && dtype != .bool:
                return try convertScalar(d, exact: i, dtype: dtype, name: name)
            default: throw V2RequestError("input '\(name)': 'data' holds a \(data.typeName), not \(dtype.v2Name) values")
            }
        default:
            throw V2RequestError("input '\(name)': 'data' must be an array, got \(data.typeName)")
        }
        let bytes = reader.bytes
        // Each element takes at least two bytes of the array ("1,"): a shape that declares more
        // elements than the data can hold must not reserve memory for them.
        let reserve = min(count, range.count / 2 + 1)
        var got = 0
        func mismatch() -> V2RequestError {
            V2RequestError("input '\(name)': shape \(shape) needs \(count) elements, 'data' holds \(got)")
        }
        func wrongType(_ r: JSONReader) -> V2RequestError {
            let c = r.bytes[r.pos]
            let found: String
            switch c {
            case UInt8(ascii: "\""): found = "a string"
            case UInt8(ascii: "t"), UInt8(ascii: "f"): found = "a boolean"
            case UInt8(ascii: "n"): found = "null"
            case UInt8(ascii: "{"): found = "an object"
            default: found = "a number"
            }
            return V2RequestError("input '\(name)': 'data' holds \(found) where \(dtype.v2Name) values are expected")
        }
        @inline(__always) func isNumberStart(_ c: UInt8) -> Bool {
            (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || c == UInt8(ascii: "-") || c == UInt8(ascii: "N") || c == UInt8(ascii: "I")
        }

        func numbers<T>(_ convert: (NumberToken) throws -> T) throws -> [T] {
            var out: [T] = []
            out.reserveCapacity(reserve)
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
                throw V2RequestError("input '\(name)': \(String(decoding: UnsafeBufferPointer(rebasing: bytes[t.start..<t.end]), as: UTF8.self)) is not a valid \(dtype.v2Name)")
            }
            return Int64(d)
        }
        func narrow<I: FixedWidthInteger>(_: I.Type) throws -> [I] {
            try numbers { t in
                let v = try integer(t)
                guard let x = I(exactly: v) else { throw V2RequestError("input '\(name)': \(v) is out of range for \(dtype.v2Name)") }
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
                    guard let x = UInt64(exactly: v) else { throw V2RequestError("input '\(name)': \(v) is out of range for UINT64") }
                    return x
                })
            case .bool:
                var out: [Bool] = []
                out.reserveCapacity(reserve)
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
                out.reserveCapacity(reserve)
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
            throw V2RequestError("input '\(name)': \(e)")
        }
    }

    static func convertScalar(_ d: Double, exact: Int64?, dtype: DType, name: String) throws -> TensorStorage {
        func int<I: FixedWidthInteger>(_: I.Type) throws -> I {
            if let e = exact, let v = I(exactly: e) { return v }
            if exact == nil, d == d.rounded(), let v = I(exactly: d) { return v }
            throw V2RequestError("input '\(name)': \(d) is not a valid \(dtype.v2Name)")
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
        case .bool, .string: throw V2RequestError("input '\(name)': 'data' must be an array")
        }
    }
}
