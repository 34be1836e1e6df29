/// A bounds-checked little-endian cursor over the bytes of a GGUF file. Every count read from
/// the file is compared with the bytes that remain before anything is allocated for it.
struct GGUFReader {
    let bytes: UnsafeRawBufferPointer
    var offset = 0

    var remaining: Int { bytes.count - offset }

    mutating func need(_ n: Int, _ what: @autoclosure () -> String) throws {
        guard n >= 0, n <= remaining else {
            throw GenerateError.invalidGGUF("truncated: \(what()) needs \(n) bytes at offset \(offset), \(remaining) left")
        }
    }

    mutating func read<T: FixedWidthInteger>(_: T.Type, _ what: @autoclosure () -> String) throws -> T {
        try need(MemoryLayout<T>.size, what())
        let v = bytes.loadUnaligned(fromByteOffset: offset, as: T.self)
        offset += MemoryLayout<T>.size
        return T(littleEndian: v)
    }

    /// A count that must fit in Int and allow at least `minElementBytes` per element in what is left.
    mutating func count(_ what: @autoclosure () -> String, minElementBytes: Int) throws -> Int {
        let raw = try read(UInt64.self, what())
        guard raw <= UInt64(Int.max / max(minElementBytes, 1)), Int(raw) * minElementBytes <= remaining else {
            throw GenerateError.invalidGGUF("\(what()) declares \(raw) elements, more than the \(remaining) bytes left can hold")
        }
        return Int(raw)
    }

    mutating func string(_ what: @autoclosure () -> String) throws -> String {
        let n = try count("length of \(what())", minElementBytes: 1)
        let s = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + n]), as: UTF8.self)
        offset += n
        return s
    }

    mutating func value(type: UInt32, _ what: @autoclosure () -> String, depth: Int = 0) throws -> GGUFValue {
        switch type {
        case 0: return .uint(UInt64(try read(UInt8.self, what())))
        case 1: return .int(Int64(try read(Int8.self, what())))
        case 2: return .uint(UInt64(try read(UInt16.self, what())))
        case 3: return .int(Int64(try read(Int16.self, what())))
        case 4: return .uint(UInt64(try read(UInt32.self, what())))
        case 5: return .int(Int64(try read(Int32.self, what())))
        case 6: return .float(Double(Float(bitPattern: try read(UInt32.self, what()))))
        case 7: return .bool(try read(UInt8.self, what()) != 0)
        case 8: return .string(try string(what()))
        case 9:
            guard depth < 4 else { throw GenerateError.invalidGGUF("\(what()): arrays nested too deeply") }
            let itemType = try read(UInt32.self, "item type of \(what())")
            let n = try count("length of array \(what())", minElementBytes: Self.minimumSize(of: itemType))
            var items: [GGUFValue] = []
            items.reserveCapacity(n)
            for _ in 0..<n { items.append(try value(type: itemType, what(), depth: depth + 1)) }
            return .array(items)
        case 10: return .uint(try read(UInt64.self, what()))
        case 11: return .int(try read(Int64.self, what()))
        case 12: return .float(Double(bitPattern: try read(UInt64.self, what())))
        default: throw GenerateError.invalidGGUF("\(what()) has unknown value type \(type)")
        }
    }

    /// The fewest bytes one value of `type` takes (strings and arrays: their length field).
    static func minimumSize(of type: UInt32) -> Int {
        switch type {
        case 0, 1, 7: return 1
        case 2, 3: return 2
        case 4, 5, 6: return 4
        case 8, 10, 11, 12: return 8
        case 9: return 12
        default: return 1
        }
    }
}
