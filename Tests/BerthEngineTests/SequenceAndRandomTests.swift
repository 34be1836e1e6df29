import BerthEngine
import BerthONNX
import BerthTensor
import Foundation
import XCTest

/// Sequence values through `Session`, the random ops' contracts (the conformance data cannot
/// check their values), and the bad inputs of the sequence, loss and signal ops: each must be
/// an error naming the problem, never a crash.
final class SequenceAndRandomTests: XCTestCase {
    private typealias T = TestModels.Tensor

    private func int(_ name: String, _ v: Int64) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto(); a.name = name; a.type = .int; a.i = v; return a
    }

    private func float(_ name: String, _ v: Float) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto(); a.name = name; a.type = .float; a.f = v; return a
    }

    private func ints(_ name: String, _ v: [Int64]) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto(); a.name = name; a.type = .ints; a.ints = v; return a
    }

    private func session(_ nodes: [Onnx_NodeProto], inputs: [T], outputs: [T]) throws -> Session {
        try Session(data: TestModels.model(nodes: nodes, inputs: inputs, outputs: outputs).serializedData(),
                    options: SessionOptions(intraOpThreads: 1))
    }

    private func expectError(_ body: @autoclosure () throws -> Any, _ needles: String..., file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try body(), file: file, line: line) { e in
            for n in needles { XCTAssertTrue("\(e)".contains(n), "'\(e)' lacks '\(n)'", file: file, line: line) }
        }
    }

    /// X [3, 2] → SplitToSequence (rows, axis dropped) → SequenceAt(P) → Y: the row P.
    func testSplitToSequenceThenSequenceAt() throws {
        var split = TestModels.node("SplitToSequence", ["X"], ["S"])
        split.attribute = [int("keepdims", 0)]
        let s = try session([split, TestModels.node("SequenceAt", ["S", "P"], ["Y"])],
                            inputs: [T("X", .float32, [.fixed(3), .fixed(2)]), T("P", .int64, [])], outputs: [T("Y", .float32, [.fixed(2)])])
        let x = try Tensor(shape: [3, 2], values: [Float]([1, 2, 3, 4, 5, 6]))
        XCTAssertEqual(try s.run(["X": x, "P": .scalar(Int64(-1))])["Y"]?.values(Float.self), [5, 6])
        XCTAssertEqual(try s.run(["X": x, "P": .scalar(Int64(1))])["Y"]?.shape, [2])
        expectError(try s.run(["X": x, "P": .scalar(Int64(3))]), "SequenceAt position 3 is out of range [-3, 2]")
    }

    /// A sequence output comes back from run(values:) and is refused, by name, by run(_:).
    func testSequenceOutputNeedsRunValues() throws {
        let s = try session([TestModels.node("SequenceConstruct", ["X", "X"], ["Y"])],
                            inputs: [T("X", .float32, [.fixed(2)])], outputs: [T("Y", .float32, [.fixed(2)])])
        let x = try Tensor(shape: [2], values: [Float]([1, 2]))
        guard case let .sequence(seq)? = try s.run(values: ["X": .tensor(x)])["Y"] else { return XCTFail("Y is not a sequence") }
        XCTAssertEqual(seq.tensors.count, 2)
        XCTAssertEqual(seq.elementType, .float32)
        expectError(try s.run(["X": x]), "value 'Y'", "is a sequence", "run(values:)")
    }

    /// A model whose input is a sequence: sampleInputs names it instead of making a tensor, and a
    /// tensor fed for it is refused by kind.
    func testSequenceInput() throws {
        var m = TestModels.model(nodes: [TestModels.node("SequenceLength", ["S"], ["Y"])], inputs: [], outputs: [T("Y", .int64, [])])
        var seq = Onnx_ValueInfoProto()
        seq.name = "S"
        var tt = Onnx_TypeProto.Tensor()
        tt.elemType = Int32(DType.float32.rawValue)
        var elem = Onnx_TypeProto()
        elem.tensorType = tt
        var st = Onnx_TypeProto.Sequence()
        st.elemType = elem
        seq.type.sequenceType = st
        m.graph.input = [seq]
        let s = try Session(data: m.serializedData(), options: SessionOptions(intraOpThreads: 1))
        XCTAssertEqual(s.inputs.first?.kind, .sequence(element: .float32))
        expectError(try s.sampleInputs(), "random inputs are tensors only")
        let t = try Tensor(shape: [1], values: [Float(1)])
        expectError(try s.run(["S": t]), "value 'S'", "fed a tensor, declared a sequence(float")
        let v = try s.run(values: ["S": .sequence(try TensorSequence(elementType: .float32, tensors: [t, t, t]))])
        XCTAssertEqual(try v["Y"]?.tensor?.values(Int64.self), [3])
        expectError(try s.run(values: ["S": .sequence(try TensorSequence(elementType: .int64))]), "fed a sequence of int64")
    }

    func testSequenceOpsRefuseBadInputs() throws {
        var empty = TestModels.node("SequenceEmpty", [], ["E"])
        empty.attribute = [int("dtype", Int64(DType.int64.rawValue))]
        let insert = try session([empty, TestModels.node("SequenceInsert", ["E", "X"], ["Y"])],
                                 inputs: [T("X", .float32, [.fixed(1)])], outputs: [T("Y", .float32, [.fixed(1)])])
        expectError(try insert.run(values: ["X": .tensor(try Tensor(shape: [1], values: [Float(1)]))]),
                    "a float tensor cannot go into a sequence of int64")

        var concat = TestModels.node("ConcatFromSequence", ["E"], ["Y"])
        concat.attribute = [int("axis", 0)]
        let s = try session([empty, concat, TestModels.node("Identity", ["X"], ["Z"])],
                            inputs: [T("X", .float32, [.fixed(1)])], outputs: [T("Y", .int64, [.fixed(1)]), T("Z", .float32, [.fixed(1)])])
        expectError(try s.run(["X": try Tensor(shape: [1], values: [Float(1)])]), "ConcatFromSequence: the sequence is empty")

        let at = try session([TestModels.node("SequenceAt", ["X", "P"], ["Y"])],
                             inputs: [T("X", .float32, [.fixed(1)]), T("P", .int64, [])], outputs: [T("Y", .float32, [.fixed(1)])])
        expectError(try at.run(["X": try Tensor(shape: [1], values: [Float(1)]), "P": .scalar(Int64(0))]), "must be a sequence, got a tensor")
    }

    /// A seeded RandomUniform draws the same values every run, inside [low, high); Bernoulli
    /// of probabilities 0 and 1 is certain.
    func testRandomOpsContracts() throws {
        var uniform = TestModels.node("RandomUniform", [], ["U"])
        uniform.attribute = [ints("shape", [2, 50]), float("low", -2), float("high", 3), float("seed", 7)]
        let bern = TestModels.node("Bernoulli", ["P"], ["B"])
        let s = try session([uniform, bern], inputs: [T("P", .float32, [.fixed(4)])],
                            outputs: [T("U", .float32, [.fixed(2), .fixed(50)]), T("B", .float32, [.fixed(4)])])
        let p = try Tensor(shape: [4], values: [Float]([0, 1, 0, 1]))
        let a = try s.run(["P": p]), b = try s.run(["P": p])
        let u = try XCTUnwrap(a["U"]).values(Float.self)
        XCTAssertEqual(a["U"]?.shape, [2, 50])
        XCTAssertEqual(u, try XCTUnwrap(b["U"]).values(Float.self), "a seed must make the draw repeatable")
        XCTAssertTrue(u.allSatisfy { $0 >= -2 && $0 < 3 }, "\(u)")
        XCTAssertGreaterThan(Set(u).count, 90, "the draws must differ from each other")
        XCTAssertEqual(try a["B"]?.values(Float.self), [0, 1, 0, 1])
    }

    /// Multinomial draws only classes with probability > 0, in proportion.
    func testMultinomial() throws {
        var m = TestModels.node("Multinomial", ["L"], ["Y"])
        m.attribute = [int("sample_size", 4000), int("dtype", Int64(DType.int64.rawValue)), float("seed", 1)]
        let s = try session([m], inputs: [T("L", .float32, [.fixed(2), .fixed(3)])], outputs: [T("Y", .int64, [.fixed(2), .fixed(4000)])])
        // Row 0: class 1 impossible, classes 0 and 2 as 1 : 3; row 1: always class 1.
        let logits = try Tensor(shape: [2, 3], values: [Float]([0, -.infinity, log(3), -.infinity, 0, -.infinity]))
        let y = try XCTUnwrap(try s.run(["L": logits])["Y"])
        XCTAssertEqual(y.shape, [2, 4000])
        let v = try y.values(Int64.self)
        let row0 = v[0..<4000], row1 = v[4000...]
        XCTAssertFalse(row0.contains(1))
        XCTAssertTrue(row1.allSatisfy { $0 == 1 })
        let twos = Double(row0.filter { $0 == 2 }.count) / 4000
        XCTAssertEqual(twos, 0.75, accuracy: 0.03)
    }

    /// Training-mode Dropout with a seed draws the same mask every run, scales the kept elements
    /// by 1 / (1 - ratio) and refuses ratio 1.
    func testTrainingDropout() throws {
        var d = TestModels.node("Dropout", ["X", "R", "T"], ["Y", "M"])
        d.attribute = [int("seed", 3)]
        let s = try session([d], inputs: [T("X", .float32, [.fixed(200)]), T("R", .float32, []), T("T", .bool, [])],
                            outputs: [T("Y", .float32, [.fixed(200)]), T("M", .bool, [.fixed(200)])])
        let x = try Tensor(shape: [200], values: [Float](repeating: 2, count: 200))
        let feeds: [String: Tensor] = ["X": x, "R": .scalar(Float(0.75)), "T": .scalar(true)]
        let a = try s.run(feeds), b = try s.run(feeds)
        let y = try XCTUnwrap(a["Y"]).values(Float.self), m = try XCTUnwrap(a["M"]).values(Bool.self)
        XCTAssertEqual(m, try XCTUnwrap(b["M"]).values(Bool.self))
        XCTAssertEqual(y, zip(m, [Float](repeating: 8, count: 200)).map { $0 ? $1 : 0 })
        XCTAssertTrue((20...80).contains(m.filter { $0 }.count), "about a quarter of 200 kept, got \(m.filter { $0 }.count)")
        XCTAssertEqual(try s.run(["X": x, "R": .scalar(Float(0.75)), "T": .scalar(false)])["Y"]?.values(Float.self), try x.values(Float.self))
        expectError(try s.run(["X": x, "R": .scalar(Float(1)), "T": .scalar(true)]), "ratio must be in [0, 1)")
    }

    func testLossAndSignalOpsRefuseBadInputs() throws {
        let nll = try session([TestModels.node("NegativeLogLikelihoodLoss", ["X", "T"], ["Y"])],
                              inputs: [T("X", .float32, [.fixed(2), .fixed(3)]), T("T", .int64, [.fixed(2)])], outputs: [T("Y", .float32, [])])
        let x = try Tensor(shape: [2, 3], values: [Float](repeating: -1, count: 6))
        expectError(try nll.run(["X": x, "T": try Tensor(shape: [2], values: [Int64]([0, 3]))]), "target 3 is out of range [0, 3)")
        XCTAssertEqual(try nll.run(["X": x, "T": try Tensor(shape: [2], values: [Int64]([0, 2]))])["Y"]?.values(Float.self), [1])

        let hann = try session([TestModels.node("HannWindow", ["N"], ["Y"])], inputs: [T("N", .int64, [])], outputs: [T("Y", .float32, [.unknown])])
        expectError(try hann.run(["N": .scalar(Int64(-4))]), "HannWindow size must be >= 0")
        expectError(try hann.run(["N": .scalar(Int64.max)]), "more than the limit")

        let stft = try session([TestModels.node("STFT", ["X", "S", "", "L"], ["Y"])],
                               inputs: [T("X", .float32, [.fixed(1), .fixed(8), .fixed(1)]), T("S", .int64, []), T("L", .int64, [])],
                               outputs: [T("Y", .float32, [.unknown])])
        let signal = try Tensor(shape: [1, 8, 1], values: [Float](repeating: 1, count: 8))
        expectError(try stft.run(["X": signal, "S": .scalar(Int64(2)), "L": .scalar(Int64(16))]), "frame_length <= signal length 8")
        expectError(try stft.run(["X": signal, "S": .scalar(Int64(0)), "L": .scalar(Int64(4))]), "frame_step > 0")
    }
}
