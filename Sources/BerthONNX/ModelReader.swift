import BerthTensor
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import SwiftProtobuf

/// Reads `.onnx` files into a ``Model``: decodes the protobuf, resolves external data and checks
/// the IR version and opset imports.
public enum ModelReader {
    /// IR versions Berth reads (ONNX 1.0 wrote 3; recent exporters write 8–10).
    public static let supportedIRVersions: ClosedRange<Int64> = 3...11

    /// Reads a model file; external data is resolved relative to its folder.
    public static func read(contentsOf url: URL) throws -> Model {
        // The file's bytes are released once decoded, before the tensors are made from them: three
        // copies of the weights at once (file, message, tensors) were the load's peak (ResNet-50,
        // 102 MB of weights: 331 MB).
        let proto: Onnx_ModelProto
        do {
            let data: Data
            do { data = try fileBytes(url) } catch { throw ONNXError.malformed("cannot read \(url.path): \(error.localizedDescription)") }
            proto = try decode(data)
        }
        return try convert(proto, baseDirectory: url.deletingLastPathComponent())
    }

    /// A file's bytes; from 1 MB in anonymous memory of their own, given back to the system when
    /// the bytes are released. On the heap, the file's bytes, freed once the model is decoded, left
    /// a hole the size of the file that the session's later blocks only partly reused (ViT-Tiny,
    /// 22 MB of weights, batch 1: peak RSS 117.8 → 105.1 MB; MobileNetV2 88.4 → 83.7 MB). Not a
    /// mapping of the file itself: a file truncated while it is read then gives a short read (a
    /// decoding error), never a SIGBUS.
    static func fileBytes(_ url: URL) throws -> Data {
        #if canImport(Glibc)
        let fd = open(url.path, O_RDONLY)
        guard fd >= 0 else { return try Data(contentsOf: url) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_size >= 1 << 20, info.st_size < Int64(Int.max / 2) else { return try Data(contentsOf: url) }
        let size = Int(info.st_size)
        guard let base = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), base != MAP_FAILED else {
            return try Data(contentsOf: url)
        }
        var done = 0
        while done < size {
            let n = Glibc.read(fd, base + done, size - done)
            if n > 0 { done += n } else if n == 0 { break } else if errno != EINTR {
                munmap(base, size)
                throw CocoaError(.fileReadUnknown)
            }
        }
        return Data(bytesNoCopy: base, count: done, deallocator: .custom { p, _ in munmap(p, size) })
        #else
        return try Data(contentsOf: url)
        #endif
    }

    /// Reads a model from bytes. `baseDirectory` is where external data lives (nil: none allowed).
    public static func read(_ data: Data, baseDirectory: URL? = nil) throws -> Model {
        try convert(try decode(data), baseDirectory: baseDirectory)
    }

    /// Decodes the protobuf message (nesting limited, so a hostile file cannot exhaust the stack).
    static func decode(_ data: Data) throws -> Onnx_ModelProto {
        do {
            var options = BinaryDecodingOptions()
            options.messageDepthLimit = 64
            return try Onnx_ModelProto(serializedBytes: data, options: options)
        } catch {
            throw ONNXError.malformed("protobuf decoding failed (\(error))")
        }
    }

    /// Converts a decoded `ModelProto`.
    public static func convert(_ proto: Onnx_ModelProto, baseDirectory: URL?) throws -> Model {
        guard proto.hasGraph else { throw ONNXError.malformed("model has no graph") }
        guard supportedIRVersions.contains(proto.irVersion) else {
            throw ONNXError.unsupportedIRVersion(proto.irVersion, supported: supportedIRVersions)
        }
        var opsets: [String: Int] = [:]
        for o in proto.opsetImport {
            let domain = o.domain == "ai.onnx" ? "" : o.domain
            guard o.version >= 1, o.version < 10_000 else { throw ONNXError.unsupportedOpset(domain: domain, version: o.version) }
            opsets[domain] = Int(o.version)
        }
        if proto.opsetImport.isEmpty { opsets[""] = 1 }
        var metadata: [String: String] = [:]
        for e in proto.metadataProps { metadata[e.key] = e.value }
        let graph = try convert(proto.graph, baseDirectory: baseDirectory)
        return Model(irVersion: proto.irVersion, opsetImports: opsets, producerName: proto.producerName,
                     producerVersion: proto.producerVersion, modelVersion: proto.modelVersion,
                     docString: proto.docString, metadata: metadata, graph: graph)
    }

    /// Converts a `GraphProto` (also used for subgraph attributes).
    public static func convert(_ g: Onnx_GraphProto, baseDirectory: URL?) throws -> Graph {
        var initializers: [String: Tensor] = [:]
        for t in g.initializer {
            guard !t.name.isEmpty else { throw ONNXError.invalidGraph("an initializer has no name") }
            initializers[t.name] = try Tensor(proto: t, baseDirectory: baseDirectory)
        }
        var nodes: [Node] = []
        nodes.reserveCapacity(g.node.count)
        for (i, n) in g.node.enumerated() {
            let name = n.name.isEmpty ? "\(n.opType)_\(i)" : n.name
            var attrs: [String: Attribute] = [:]
            for a in n.attribute {
                attrs[a.name] = try convert(a, node: name, baseDirectory: baseDirectory)
            }
            nodes.append(Node(name: name, opType: n.opType, domain: n.domain, inputs: n.input, outputs: n.output, attributes: attrs))
        }
        // Old IR versions list initializers among the inputs too; they are not feeds.
        let inputs = try g.input.filter { initializers[$0.name] == nil }.map(convert)
        let outputs = try g.output.map(convert)
        return Graph(name: g.name, nodes: nodes, initializers: initializers, inputs: inputs, outputs: outputs)
    }

    static func convert(_ v: Onnx_ValueInfoProto) throws -> ValueInfo {
        guard case let .tensorType(t)? = v.type.value else {
            // ZipMap's sequence of {label: probability} maps is carried as its probability
            // matrix (float [N, C]); see the ZipMap kernel.
            if case let .sequenceType(seq)? = v.type.value, case let .mapType(map)? = seq.elemType.value,
               case let .tensorType(val)? = map.valueType.value, val.elemType == Int32(DType.float32.rawValue) {
                return ValueInfo(name: v.name, dtype: .float32, shape: [.unknown, .unknown])
            }
            if case let .optionalType(o)? = v.type.value, case let .tensorType(t)? = o.elemType.value {
                var info = tensorInfo(v.name, t)
                info.kind = .optional(.tensor)
                return info
            }
            return ValueInfo(name: v.name, dtype: nil, shape: nil, kind: kind(of: v.type))
        }
        return tensorInfo(v.name, t)
    }

    /// The kind a declared type describes (tensor, sequence, optional or other).
    static func kind(of type: Onnx_TypeProto) -> ValueKind {
        switch type.value {
        case .tensorType?: return .tensor
        case let .sequenceType(s)?:
            if case let .tensorType(t)? = s.elemType.value { return .sequence(element: DType(rawValue: Int(t.elemType))) }
            return .sequence(element: nil)
        case let .optionalType(o)?: return .optional(kind(of: o.elemType))
        default: return .other
        }
    }

    static func tensorInfo(_ name: String, _ t: Onnx_TypeProto.Tensor) -> ValueInfo {
        let dtype = DType(rawValue: Int(t.elemType))
        let shape: [Dim]? = t.hasShape ? t.shape.dim.map { d in
            switch d.value {
            case let .dimValue(n)?: return n >= 0 ? .fixed(Int(n)) : .unknown
            case let .dimParam(s)?: return s.isEmpty ? .unknown : .symbolic(s)
            case nil: return .unknown
            }
        } : nil
        return ValueInfo(name: name, dtype: dtype, shape: shape)
    }

    static func convert(_ a: Onnx_AttributeProto, node: String, baseDirectory: URL?) throws -> Attribute {
        func text(_ d: Data) -> String { String(decoding: d, as: UTF8.self) }
        var type = a.type
        if type == .undefined {
            // Very old files leave `type` unset; infer it from the populated field.
            if a.hasF { type = .float } else if a.hasI { type = .int } else if a.hasS { type = .string }
            else if a.hasT { type = .tensor } else if a.hasG { type = .graph } else if !a.floats.isEmpty { type = .floats }
            else if !a.ints.isEmpty { type = .ints } else if !a.strings.isEmpty { type = .strings }
        }
        switch type {
        case .float: return .float(a.f)
        case .int: return .int(Int(a.i))
        case .string: return .string(text(a.s))
        case .tensor: return .tensor(try Tensor(proto: a.t, baseDirectory: baseDirectory))
        case .graph: return .graph(try convert(a.g, baseDirectory: baseDirectory))
        case .floats: return .floats(a.floats)
        case .ints: return .ints(a.ints.map { Int($0) })
        case .strings: return .strings(a.strings.map(text))
        case .tensors: return .tensors(try a.tensors.map { try Tensor(proto: $0, baseDirectory: baseDirectory) })
        case .graphs: return .graphs(try a.graphs.map { try convert($0, baseDirectory: baseDirectory) })
        case .typeProto: return .type(kind(of: a.tp))
        default:
            throw ONNXError.attribute(node: node, name: a.name, reason: "unsupported attribute type \(a.type)")
        }
    }

    /// Reads one serialized `TensorProto` (the `.pb` files of ONNX conformance tests).
    public static func readTensor(_ data: Data) throws -> Tensor {
        let p: Onnx_TensorProto
        do { p = try Onnx_TensorProto(serializedBytes: data) } catch { throw ONNXError.malformed("tensor protobuf: \(error)") }
        return try Tensor(proto: p, baseDirectory: nil)
    }
}
