#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A tensor described in a GGUF file: its name, shape (ggml order: `dims[0]` is the row length),
/// type and where its bytes are in the mapped file.
public struct GGUFTensorInfo: Sendable {
    public let name: String
    public let dims: [Int]
    public let type: GGMLType
    /// Byte offset inside the file (data section start + the tensor's offset).
    public let fileOffset: Int
    /// Bytes of the tensor's data.
    public let byteCount: Int
    /// Elements per row (`dims[0]`).
    public var rowLength: Int { dims.first ?? 1 }
    /// Number of rows (product of the other dims).
    public var rowCount: Int { dims.dropFirst().reduce(1, *) }
}

/// A GGUF file (versions 2 and 3) mapped into memory: metadata key/values and tensor infos,
/// with every count, size and offset checked against the file's size.
public final class GGUFFile: @unchecked Sendable {
    public let path: String
    public let version: UInt32
    public let metadata: [String: GGUFValue]
    public let tensors: [String: GGUFTensorInfo]
    /// Tensor names in file order.
    public let tensorNames: [String]
    public let alignment: Int
    /// Start of the tensor data section.
    public let dataOffset: Int
    /// The mapped bytes (read-only, shared with the page cache).
    public let bytes: UnsafeRawBufferPointer
    private let mapping: UnsafeMutableRawPointer?

    /// Maps and parses `path`; throws ``GenerateError/invalidGGUF(_:)`` on malformed content.
    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw GenerateError.invalidGGUF("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw GenerateError.invalidGGUF("cannot stat \(path)") }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw GenerateError.invalidGGUF("\(path) is not a regular file") }
        let size = Int(st.st_size)
        guard size >= 24 else { throw GenerateError.invalidGGUF("\(path) is \(size) bytes, too short for a GGUF header") }
        guard let m = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), m != MAP_FAILED else {
            throw GenerateError.invalidGGUF("cannot map \(path)")
        }
        mapping = m
        bytes = UnsafeRawBufferPointer(start: m, count: size)
        do {
            (version, metadata, tensors, tensorNames, alignment, dataOffset) = try Self.parse(bytes)
        } catch {
            munmap(m, size)
            throw error
        }
    }

    deinit { if let mapping { munmap(mapping, bytes.count) } }

    private static func parse(_ bytes: UnsafeRawBufferPointer) throws
        -> (UInt32, [String: GGUFValue], [String: GGUFTensorInfo], [String], Int, Int) {
        var r = GGUFReader(bytes: bytes)
        let magic = try r.read(UInt32.self, "magic")
        guard magic == 0x4655_4747 else { throw GenerateError.invalidGGUF("not a GGUF file (magic \(String(magic, radix: 16)))") }
        let version = try r.read(UInt32.self, "version")
        guard version == 2 || version == 3 else { throw GenerateError.invalidGGUF("GGUF version \(version) is not supported (2 and 3 are)") }
        // A tensor info takes at least 8 (name) + 4 (n_dims) + 4 (type) + 8 (offset) bytes; a key/value 8 + 4 + 1.
        let tensorCount = try r.count("tensor count", minElementBytes: 24)
        let kvCount = try r.count("metadata count", minElementBytes: 13)
        var metadata: [String: GGUFValue] = [:]
        for i in 0..<kvCount {
            let key = try r.string("key \(i)")
            let type = try r.read(UInt32.self, "type of '\(key)'")
            metadata[key] = try r.value(type: type, "'\(key)'")
        }
        var alignment = 32
        if let a = metadata["general.alignment"] {
            guard let v = a.intValue, v > 0, v <= 1 << 20, v & (v - 1) == 0 else {
                throw GenerateError.invalidGGUF("general.alignment must be a power of two, got \(a)")
            }
            alignment = v
        }
        struct Raw { let name: String; let dims: [Int]; let type: GGMLType; let offset: Int }
        var raws: [Raw] = []
        raws.reserveCapacity(tensorCount)
        for i in 0..<tensorCount {
            let name = try r.string("name of tensor \(i)")
            let nDims = Int(try r.read(UInt32.self, "dims of '\(name)'"))
            guard (1...4).contains(nDims) else { throw GenerateError.invalidGGUF("tensor '\(name)' has \(nDims) dimensions (1…4 allowed)") }
            var dims: [Int] = []
            for _ in 0..<nDims {
                let d = try r.read(UInt64.self, "dim of '\(name)'")
                guard d <= UInt64(Int32.max) else { throw GenerateError.invalidGGUF("tensor '\(name)' dimension \(d) is too large") }
                dims.append(Int(d))
            }
            let rawType = try r.read(UInt32.self, "type of '\(name)'")
            guard let type = GGMLType(rawValue: rawType) else { throw GenerateError.unsupportedTensorType(tensor: name, type: rawType) }
            let off = try r.read(UInt64.self, "offset of '\(name)'")
            guard off <= UInt64(bytes.count) else { throw GenerateError.invalidGGUF("tensor '\(name)' offset \(off) is beyond the file") }
            raws.append(Raw(name: name, dims: dims, type: type, offset: Int(off)))
        }
        let dataOffset = (r.offset + alignment - 1) / alignment * alignment
        guard dataOffset <= bytes.count else { throw GenerateError.invalidGGUF("truncated before the tensor data") }
        var tensors: [String: GGUFTensorInfo] = [:]
        for t in raws {
            guard tensors[t.name] == nil else { throw GenerateError.invalidGGUF("tensor '\(t.name)' appears twice") }
            guard t.offset % alignment == 0 else { throw GenerateError.invalidGGUF("tensor '\(t.name)' offset \(t.offset) is not aligned to \(alignment)") }
            guard let rowBytes = t.type.rowBytes(t.dims[0]) else {
                throw GenerateError.invalidGGUF("tensor '\(t.name)' row length \(t.dims[0]) is not a multiple of \(t.type.name)'s block size \(t.type.blockSize)")
            }
            var size = rowBytes
            for d in t.dims.dropFirst() {
                let (p, o) = size.multipliedReportingOverflow(by: d)
                guard !o else { throw GenerateError.invalidGGUF("tensor '\(t.name)' size overflows") }
                size = p
            }
            let start = dataOffset + t.offset
            guard start <= bytes.count, size <= bytes.count - start else {
                throw GenerateError.invalidGGUF("truncated: tensor '\(t.name)' needs \(size) bytes at \(start), the file has \(bytes.count)")
            }
            tensors[t.name] = GGUFTensorInfo(name: t.name, dims: t.dims, type: t.type, fileOffset: start, byteCount: size)
        }
        return (version, metadata, tensors, raws.map(\.name), alignment, dataOffset)
    }

    /// The tensor's bytes.
    public func data(of info: GGUFTensorInfo) -> UnsafeRawPointer {
        bytes.baseAddress!.advanced(by: info.fileOffset)
    }
}
