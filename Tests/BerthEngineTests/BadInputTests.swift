import BerthEngine
import BerthONNX
import BerthTensor
import Foundation
import XCTest

/// Bad models and bad feeds must give an error that names the problem, never a crash or a hang.
final class BadInputTests: XCTestCase {
    func testUnsupportedOpsAreAllListedAtLoad() throws {
        let m = TestModels.model(nodes: [
            TestModels.node("Relu", ["X"], ["a"]),
            TestModels.node("FrobnicateX", ["a"], ["b"], domain: "com.example"),
            TestModels.node("NoSuchOp", ["b"], ["Y"]),
        ], extraOpsets: ["com.example": 1])
        XCTAssertThrowsError(try Session(data: m.serializedData())) { e in
            let text = "\(e)"
            XCTAssertTrue(text.contains("com.example::FrobnicateX (opset 1)"), text)
            XCTAssertTrue(text.contains("ai.onnx::NoSuchOp (opset 17)"), text)
            XCTAssertFalse(text.contains("Relu"), text)
        }
    }

    /// An opset newer than Berth implements is refused at load, naming the domain and opset (it
    /// loaded silently before, running older semantics); other domains set no limit.
    func testNewerOpsetsAreRefusedAtLoad() throws {
        var m = TestModels.model(nodes: [TestModels.node("Relu", ["X"], ["Y"])])
        m.opsetImport[0].version = 99
        XCTAssertThrowsError(try Session(data: m.serializedData())) { e in
            XCTAssertTrue("\(e)".contains("model imports ai.onnx opset 99; Berth supports ai.onnx up to opset 21"), "\(e)")
        }
        m = TestModels.model(nodes: [TestModels.node("Relu", ["X"], ["Y"])], extraOpsets: ["ai.onnx.ml": 99])
        XCTAssertThrowsError(try Session(data: m.serializedData())) { e in
            XCTAssertTrue("\(e)".contains("ai.onnx.ml opset 99"), "\(e)")
        }
        m = TestModels.model(nodes: [TestModels.node("Relu", ["X"], ["Y"])], extraOpsets: ["ai.onnx.ml": 5, "com.example": 99])
        m.opsetImport[0].version = 21
        XCTAssertNoThrow(try Session(data: m.serializedData()))
    }

    func testFeedErrorsNameTheInput() throws {
        let session = try Session(data: TestModels.model(nodes: [TestModels.node("Relu", ["X"], ["Y"])]).serializedData())
        let good = try Tensor(shape: [2, 4], values: [Float](repeating: -1, count: 8))
        XCTAssertEqual(try session.run(["X": good])["Y"]?.floats, [Float](repeating: 0, count: 8))

        func expectError(_ feeds: [String: Tensor], _ needle: String) {
            XCTAssertThrowsError(try session.run(feeds)) { e in XCTAssertTrue("\(e)".contains(needle), "'\(e)' lacks '\(needle)'") }
        }
        expectError([:], "missing input 'X'")
        expectError(["X": good, "Z": good], "unknown input 'Z'")
        expectError(["X": try Tensor(shape: [2, 4], values: [Double](repeating: 0, count: 8))], "input 'X': expected dtype float, got double")
        expectError(["X": try Tensor(shape: [2, 5], values: [Float](repeating: 0, count: 10))], "input 'X': expected shape [N, 4], got [2, 5]")
        expectError(["X": try Tensor(shape: [8], values: [Float](repeating: 0, count: 8))], "expected shape [N, 4], got [8]")
    }

    func testKernelErrorsNameTheNode() throws {
        // Reshape to a shape with the wrong element count: a run-time error naming the node.
        var shape = Onnx_TensorProto()
        shape.name = "shape"
        shape.dataType = Int32(DType.int64.rawValue)
        shape.dims = [2]
        shape.int64Data = [3, 5]
        var m = TestModels.model(nodes: [TestModels.node("Reshape", ["X", "shape"], ["Y"])])
        m.graph.initializer = [shape]
        m.graph.output = [TestModels.valueInfo("Y", .float32, [.unknown, .unknown])]
        let session = try Session(data: m.serializedData())
        XCTAssertThrowsError(try session.run(["X": try Tensor.zeros(.float32, shape: [2, 4])])) { e in
            XCTAssertTrue("\(e)".contains("Reshape_Y"), "\(e)")
        }
    }

    func testDanglingValueAndCycleAreGraphErrors() throws {
        let dangling = TestModels.model(nodes: [TestModels.node("Add", ["X", "nowhere"], ["Y"])])
        XCTAssertThrowsError(try Session(data: dangling.serializedData())) { e in
            XCTAssertTrue("\(e)".contains("nowhere"), "\(e)")
        }
        let cycle = TestModels.model(nodes: [TestModels.node("Add", ["X", "b"], ["a"]), TestModels.node("Relu", ["a"], ["b"]),
                                             TestModels.node("Relu", ["b"], ["Y"])])
        XCTAssertThrowsError(try Session(data: cycle.serializedData())) { e in
            XCTAssertTrue("\(e)".contains("cycle"), "\(e)")
        }
    }

    /// Sizes declared in the file must become errors, never traps or huge allocations: an
    /// initializer whose byte count overflows (trapped in the loader before), and an input whose
    /// declared shape `berth run --random` and warm-up would have allocated (2^62 floats).
    func testHugeDeclaredSizesAreErrors() throws {
        var w = Onnx_TensorProto()
        w.name = "W"
        w.dataType = Int32(DType.float32.rawValue)
        w.dims = [1 << 31, 1 << 31]
        w.rawData = Data(count: 16)
        var m = TestModels.model(nodes: [TestModels.node("Add", ["X", "W"], ["Y"])])
        m.graph.initializer = [w]
        XCTAssertThrowsError(try Session(data: m.serializedData())) { e in
            XCTAssertTrue("\(e)".contains("cannot load model") && "\(e)".contains("tensor 'W'"), "\(e)")
        }

        var huge = TestModels.model(nodes: [TestModels.node("Relu", ["X"], ["Y"])])
        huge.graph.input = [TestModels.valueInfo("X", .float32, [.fixed(1 << 31), .fixed(1 << 31)])]
        let session = try Session(data: huge.serializedData())
        XCTAssertThrowsError(try session.sampleInputs()) { e in
            XCTAssertTrue("\(e)".contains("random input 'X'") && "\(e)".contains("more than the limit"), "\(e)")
        }
        huge.graph.input = [TestModels.valueInfo("X", .float32, [.fixed(Int(Int64.max)), .fixed(4)])]
        XCTAssertThrowsError(try Session(data: huge.serializedData()).sampleInputs()) { e in
            XCTAssertTrue("\(e)".contains("overflows"), "\(e)")
        }
    }

    /// Mutates the bundled digits model 200 ways (byte flips, truncation, insertion, splices);
    /// each variant must load and run, or throw: the test fails by crashing otherwise.
    func testTwoHundredCorruptedModelsNeverCrash() throws {
        let original = try Data(contentsOf: TestModels.digitsModel)
        var seed = UInt64(20261126)
        func next() -> Int {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return Int(truncatingIfNeeded: seed >> 33)
        }
        var loaded = 0, rejected = 0
        for i in 0..<200 {
            var bytes = [UInt8](original)
            switch i % 5 {
            case 0: bytes = Array(bytes.prefix(next() % bytes.count))
            case 1: for _ in 0..<(1 + next() % 8) { bytes[next() % bytes.count] ^= UInt8(1 << (next() % 8)) }
            case 2: for _ in 0..<(1 + next() % 4) { bytes[next() % bytes.count] = UInt8(next() % 256) }
            case 3: bytes.insert(contentsOf: (0..<(1 + next() % 16)).map { _ in UInt8(next() % 256) }, at: next() % bytes.count)
            default:
                let a = next() % bytes.count, b = next() % bytes.count
                bytes.replaceSubrange(min(a, b)..<max(a, b), with: bytes[min(a, b)..<max(a, b)].reversed())
            }
            do {
                let s = try Session(data: Data(bytes), options: SessionOptions(intraOpThreads: 1))
                _ = try? s.run(try s.sampleInputs(batch: 2))
                loaded += 1
            } catch {
                XCTAssertFalse("\(error)".isEmpty)
                rejected += 1
            }
        }
        XCTAssertEqual(loaded + rejected, 200)
        XCTAssertGreaterThan(rejected, 0, "no mutation was rejected; the mutator is not mutating")
    }
}
