@testable import BerthONNX
import BerthTensor
import Foundation
import XCTest

final class ModelReaderTests: XCTestCase {
    /// Builds a one-node model in memory: Y = Relu(X) with X float[N, 3] and one initializer.
    static func tinyModel(irVersion: Int64 = 8, externalWeightsAt location: String? = nil) -> Onnx_ModelProto {
        var m = Onnx_ModelProto()
        m.irVersion = irVersion
        var opset = Onnx_OperatorSetIdProto()
        opset.version = 17
        m.opsetImport = [opset]
        var g = Onnx_GraphProto()
        g.name = "tiny"
        var node = Onnx_NodeProto()
        node.opType = "Add"
        node.input = ["X", "W"]
        node.output = ["Y"]
        g.node = [node]
        var w = Onnx_TensorProto()
        w.name = "W"
        w.dataType = Int32(DType.float32.rawValue)
        w.dims = [3]
        if let location {
            w.dataLocation = .external
            var loc = Onnx_StringStringEntryProto()
            loc.key = "location"
            loc.value = location
            w.externalData = [loc]
        } else {
            w.floatData = [1, 2, 3]
        }
        g.initializer = [w]
        func info(_ name: String) -> Onnx_ValueInfoProto {
            var v = Onnx_ValueInfoProto()
            v.name = name
            var t = Onnx_TypeProto.Tensor()
            t.elemType = 1
            var d0 = Onnx_TensorShapeProto.Dimension()
            d0.dimParam = "N"
            var d1 = Onnx_TensorShapeProto.Dimension()
            d1.dimValue = 3
            t.shape.dim = [d0, d1]
            v.type.tensorType = t
            return v
        }
        g.input = [info("X")]
        g.output = [info("Y")]
        m.graph = g
        return m
    }

    func testReadsGraphInterfaceAndInitializers() throws {
        let data = try Self.tinyModel().serializedData()
        let model = try ModelReader.read(data)
        XCTAssertEqual(model.opset(for: ""), 17)
        XCTAssertEqual(model.graph.inputs.first?.shape, [.symbolic("N"), .fixed(3)])
        XCTAssertEqual(try model.graph.initializers["W"]?.values(Float.self), [1, 2, 3])
    }

    func testReadsExternalDataAndRefusesEscapes() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("berth-ext-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try [Float(4), 5, 6].withUnsafeBytes { Data($0) }.write(to: dir.appendingPathComponent("w.bin"))
        let modelURL = dir.appendingPathComponent("m.onnx")
        try Self.tinyModel(externalWeightsAt: "w.bin").serializedData().write(to: modelURL)
        XCTAssertEqual(try ModelReader.read(contentsOf: modelURL).graph.initializers["W"]?.values(Float.self), [4, 5, 6])

        try Self.tinyModel(externalWeightsAt: "../etc/passwd").serializedData().write(to: modelURL)
        XCTAssertThrowsError(try ModelReader.read(contentsOf: modelURL)) { e in
            XCTAssertTrue("\(e)".contains("leaves the model folder"), "\(e)")
        }
        try Self.tinyModel(externalWeightsAt: "missing.bin").serializedData().write(to: modelURL)
        XCTAssertThrowsError(try ModelReader.read(contentsOf: modelURL))
        // External data with no base folder (model given as bytes) is an error, not a file read.
        XCTAssertThrowsError(try ModelReader.read(Self.tinyModel(externalWeightsAt: "w.bin").serializedData()))
    }

    /// Links and special files cannot smuggle a file from outside the model folder in.
    func testExternalDataStaysInTheFolderThroughLinks() throws {
        let fm = FileManager.default
        let outside = fm.temporaryDirectory.appendingPathComponent("berth-outside-\(UUID().uuidString)")
        let dir = fm.temporaryDirectory.appendingPathComponent("berth-ext-\(UUID().uuidString)")
        try fm.createDirectory(at: outside, withIntermediateDirectories: true)
        try fm.createDirectory(at: dir.appendingPathComponent("sub"), withIntermediateDirectories: true)
        defer {
            try? fm.removeItem(at: dir)
            try? fm.removeItem(at: outside)
        }
        let weights = [Float(4), 5, 6].withUnsafeBytes { Data($0) }
        try weights.write(to: outside.appendingPathComponent("secret.bin"))
        try weights.write(to: dir.appendingPathComponent("sub/w.bin"))
        let modelURL = dir.appendingPathComponent("m.onnx")
        func read(_ location: String) throws -> [Float]? {
            try Self.tinyModel(externalWeightsAt: location).serializedData().write(to: modelURL)
            return try ModelReader.read(contentsOf: modelURL).graph.initializers["W"]?.values(Float.self)
        }
        XCTAssertEqual(try read("sub/w.bin"), [4, 5, 6])
        try fm.createSymbolicLink(atPath: dir.appendingPathComponent("inside-link.bin").path, withDestinationPath: "sub/w.bin")
        XCTAssertEqual(try read("inside-link.bin"), [4, 5, 6], "a link that stays inside is fine")
        try fm.createSymbolicLink(atPath: dir.appendingPathComponent("escape.bin").path,
                                  withDestinationPath: outside.appendingPathComponent("secret.bin").path)
        try fm.createSymbolicLink(atPath: dir.appendingPathComponent("dirlink").path, withDestinationPath: outside.path)
        try fm.linkItem(at: outside.appendingPathComponent("secret.bin"), to: dir.appendingPathComponent("hard.bin"))
        XCTAssertEqual(mkfifo(dir.appendingPathComponent("fifo.bin").path, 0o600), 0)
        for (location, words) in [("escape.bin", "outside"), ("dirlink/secret.bin", "outside"), ("hard.bin", "hard links"),
                                  ("fifo.bin", "regular file"), ("sub\\w.bin", "leaves"), ("sub/../../x", "leaves"), ("/etc/passwd", "leaves")] {
            XCTAssertThrowsError(try read(location), location) { e in XCTAssertTrue("\(e)".contains(words), "\(location): \(e)") }
        }
    }

    /// Files from 1 MB are read into memory of their own (``ModelReader/fileBytes(_:)``): the same
    /// bytes as Foundation reads, and a model that large (a 300k-float initializer) loads the same.
    func testLargeFileBytesAndModelMatchFoundation() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("berth-filebytes-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var m = Self.tinyModel()
        let count = 300_000
        m.graph.initializer[0].dims = [Int64(count)]
        m.graph.initializer[0].floatData = []
        m.graph.initializer[0].rawData = Data((0..<count).flatMap { i -> [UInt8] in withUnsafeBytes(of: Float(i).bitPattern.littleEndian) { Array($0) } })
        let url = dir.appendingPathComponent("big.onnx")
        try m.serializedData().write(to: url)
        let bytes = try ModelReader.fileBytes(url)
        XCTAssertGreaterThan(bytes.count, 1 << 20)
        XCTAssertEqual(bytes, try Data(contentsOf: url))
        let model = try ModelReader.read(contentsOf: url)
        let w = try XCTUnwrap(model.graph.initializers["W"])
        XCTAssertEqual(w.shape, [count])
        XCTAssertEqual(w.floats[count - 1], Float(count - 1))
        XCTAssertEqual(w.floats[12345], 12345)
        // A small file takes Foundation's path; a missing one fails as before.
        let small = dir.appendingPathComponent("small.bin")
        try Data([1, 2, 3]).write(to: small)
        XCTAssertEqual(try ModelReader.fileBytes(small), Data([1, 2, 3]))
        XCTAssertThrowsError(try ModelReader.read(contentsOf: dir.appendingPathComponent("missing.onnx")))
    }

    func testChecksIRVersion() throws {
        XCTAssertThrowsError(try ModelReader.read(Self.tinyModel(irVersion: 99).serializedData())) { e in
            XCTAssertTrue("\(e)".contains("ir_version 99"), "\(e)")
        }
    }

    func testRejectsGarbage() {
        XCTAssertThrowsError(try ModelReader.read(Data("not a model".utf8)))
        XCTAssertThrowsError(try ModelReader.read(Data()))
    }
}
