import BerthONNX
import Foundation
import SwiftProtobuf

/// Reads an ONNX file as its protobuf (the compression passes rewrite the graph in place, keeping
/// everything they do not touch byte for byte) and writes results atomically: a temporary file
/// beside the target, renamed at the end, so a failure never leaves a partial output.
public enum ModelFile {
    /// The model proto of `url`, checked by Berth's reader (sizes, opsets, IR version) first.
    public static func read(_ url: URL) throws -> Onnx_ModelProto {
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw OptimizeError.badInput("cannot read \(url.path): \(error.localizedDescription)") }
        do { _ = try ModelReader.read(data, baseDirectory: url.deletingLastPathComponent()) } catch {
            throw OptimizeError.invalidModel("\(url.path): \(error)")
        }
        do { return try Onnx_ModelProto(serializedBytes: data) } catch { throw OptimizeError.invalidModel("\(url.path): \(error)") }
    }

    /// Writes `model` to `url` through a temporary file; refuses to overwrite the input.
    public static func write(_ model: Onnx_ModelProto, to url: URL, input: URL) throws {
        if url.standardizedFileURL.resolvingSymlinksInPath().path == input.standardizedFileURL.resolvingSymlinksInPath().path {
            throw OptimizeError.badInput("the output would overwrite the input \(input.path): give another path")
        }
        let data: Data
        do { data = try model.serializedData() } catch { throw OptimizeError.io("cannot serialize the model: \(error)") }
        let tmp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(getpid()).part")
        do {
            try data.write(to: tmp)
            if FileManager.default.fileExists(atPath: url.path) { try FileManager.default.removeItem(at: url) }
            try FileManager.default.moveItem(at: tmp, to: url)
        } catch {
            try? FileManager.default.removeItem(at: tmp)
            throw OptimizeError.io("cannot write \(url.path): \(error.localizedDescription)")
        }
    }
}
