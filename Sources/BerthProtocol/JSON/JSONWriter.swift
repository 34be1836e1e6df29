import BerthTensor
import NIOCore

/// Appends JSON to a `ByteBuffer` without building intermediate objects; tensor data is written
/// element by element from typed arrays.
struct JSONWriter {
    var buffer: ByteBuffer

    init(capacity: Int = 256) { buffer = ByteBufferAllocator().buffer(capacity: capacity) }

    @inline(__always) mutating func raw(_ s: StaticString) {
        buffer.writeStaticString(s)
    }

    @inline(__always) mutating func byte(_ b: UInt8) { buffer.writeInteger(b) }

    /// A JSON string literal with escapes.
    mutating func string(_ s: String) {
        byte(0x22)
        var s = s
        s.withUTF8 { u in
            var needsEscape = false
            for c in u where c < 0x20 || c == 0x22 || c == 0x5C { needsEscape = true; break }
            if !needsEscape { buffer.writeBytes(u); return }
            for c in u {
                switch c {
                case 0x22: raw("\\\"")
                case 0x5C: raw("\\\\")
                case 0x0A: raw("\\n")
                case 0x0D: raw("\\r")
                case 0x09: raw("\\t")
                case 0..<0x20:
                    let hex: [UInt8] = Array("0123456789abcdef".utf8)
                    raw("\\u00")
                    byte(hex[Int(c >> 4)])
                    byte(hex[Int(c & 0xF)])
                default: byte(c)
                }
            }
        }
        byte(0x22)
    }

    mutating func int<I: BinaryInteger>(_ v: I) {
        if v == 0 { byte(0x30); return }
        var mag: UInt64
        if v < 0 {
            byte(0x2D)
            mag = Int64(v).magnitude
        } else {
            mag = UInt64(v)
        }
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { tmp in
            var i = 20
            while mag > 0 { i -= 1; tmp[i] = UInt8(mag % 10) + 0x30; mag /= 10 }
            buffer.writeBytes(UnsafeBufferPointer(rebasing: tmp[i...]))
        }
    }

    /// A floating-point number in shortest round-trip form; NaN and infinities are written as
    /// Python's `json` module reads them (`NaN`, `Infinity`, `-Infinity`).
    mutating func float<F: BinaryFloatingPoint & LosslessStringConvertible>(_ v: F) {
        if v.isFinite {
            buffer.writeString(v.description)
        } else if v.isNaN {
            raw("NaN")
        } else {
            v < 0 ? raw("-Infinity") : raw("Infinity")
        }
    }

    mutating func bool(_ b: Bool) { b ? raw("true") : raw("false") }

    /// `[e0,e1,...]`: `element` writes each of `items` in order, separated by commas (no spaces).
    mutating func array<S: Sequence>(_ items: S, _ element: (inout JSONWriter, S.Element) -> Void) {
        byte(0x5B)
        var first = true
        for x in items {
            if !first { byte(0x2C) }
            first = false
            element(&self, x)
        }
        byte(0x5D)
    }

    /// An array of JSON integers, e.g. `[1,-1,3]`.
    mutating func array<S: Sequence>(_ items: S) where S.Element: BinaryInteger {
        array(items) { $0.int($1) }
    }

    /// An array of JSON strings, e.g. `["a","b"]`.
    mutating func array<S: Sequence>(_ items: S) where S.Element == String {
        array(items) { $0.string($1) }
    }

    /// Every element of `storage` as a flat JSON array.
    mutating func data(_ storage: TensorStorage) {
        byte(0x5B)
        func ints<I: BinaryInteger>(_ v: [I]) {
            for (i, x) in v.enumerated() { if i > 0 { byte(0x2C) }; int(x) }
        }
        func floats<F: BinaryFloatingPoint & LosslessStringConvertible>(_ v: [F]) {
            for (i, x) in v.enumerated() { if i > 0 { byte(0x2C) }; float(x) }
        }
        switch storage {
        case let .float32(v): floats(v)
        case let .float64(v): floats(v)
        case let .float16(v): floats(v)
        case let .int8(v): ints(v)
        case let .uint8(v): ints(v)
        case let .int16(v): ints(v)
        case let .uint16(v): ints(v)
        case let .int32(v): ints(v)
        case let .uint32(v): ints(v)
        case let .int64(v): ints(v)
        case let .uint64(v): ints(v)
        case let .bool(v): for (i, x) in v.enumerated() { if i > 0 { byte(0x2C) }; bool(x) }
        case let .string(v): for (i, x) in v.enumerated() { if i > 0 { byte(0x2C) }; string(x) }
        }
        byte(0x5D)
    }
}
