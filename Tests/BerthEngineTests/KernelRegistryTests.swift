@testable import BerthEngine
import XCTest

final class KernelRegistryTests: XCTestCase {
    /// The ai.onnx operators the foundation issue requires; conformance runs their node tests.
    static let claimed = """
    Add Sub Mul Div Pow Sqrt Exp Log Abs Neg Reciprocal Floor Ceil Clip Erf Tanh Sigmoid Relu
    LeakyRelu Elu Selu HardSigmoid Softplus Gelu Where Equal Less Greater LessOrEqual GreaterOrEqual
    Not And Or Max Min Sum Mean Cast MatMul Gemm Conv MaxPool AveragePool GlobalAveragePool
    GlobalMaxPool BatchNormalization LayerNormalization InstanceNormalization Softmax LogSoftmax
    ReduceSum ReduceMean ReduceMax ReduceMin ReduceProd ReduceL2 ArgMax ArgMin Reshape Flatten
    Transpose Squeeze Unsqueeze Concat Split Slice Gather GatherElements Expand Tile Pad Shape Size
    ConstantOfShape Constant Identity Dropout Range TopK
    """.split(whereSeparator: \.isWhitespace).map(String.init)

    func testEveryClaimedOperatorIsRegistered() {
        let registered = Set(KernelRegistry.standard.supportedOps.filter { $0.domain == "ai.onnx" }.map(\.op))
        let missing = Self.claimed.filter { !registered.contains($0) }
        XCTAssertEqual(missing, [], "claimed but not registered")
    }

    /// The ai.onnx.ml operators the classic-ML issue requires (cross-checked against ONNX Runtime
    /// by tests/python/test_ml_zoo.py).
    static let claimedML = """
    TreeEnsembleClassifier TreeEnsembleRegressor TreeEnsemble LinearClassifier LinearRegressor
    SVMClassifier SVMRegressor Scaler Normalizer Binarizer Imputer OneHotEncoder LabelEncoder
    ArrayFeatureExtractor FeatureVectorizer CategoryMapper ZipMap
    """.split(whereSeparator: \.isWhitespace).map(String.init)

    func testEveryClaimedMLOperatorIsRegistered() {
        let registered = Set(KernelRegistry.standard.supportedOps.filter { $0.domain == "ai.onnx.ml" }.map(\.op))
        XCTAssertEqual(Self.claimedML.filter { !registered.contains($0) }, [], "claimed but not registered")
    }

    func testLookupRespectsOpsetRanges() {
        var r = KernelRegistry()
        r.register("Foo", opsets: 1...10) { _, _ in { _, _ in [] } }
        XCTAssertNotNil(r.factory(domain: "", op: "Foo", opset: 10))
        XCTAssertNil(r.factory(domain: "", op: "Foo", opset: 11))
        XCTAssertNil(r.factory(domain: "ai.onnx.ml", op: "Foo", opset: 1))
    }

    /// Overlapping opset ranges for one (domain, op) are refused, as ONNX Runtime refuses them:
    /// which kernel ran would depend on registration order.
    func testOverlappingOpsetRangesAreRefused() throws {
        var r = KernelRegistry()
        r.register("Foo", opsets: 1...10) { _, _ in { _, _ in [] } }
        XCTAssertThrowsError(try r.registerChecked("Foo", opsets: 10...12) { _, _ in { _, _ in [] } }) { e in
            XCTAssertEqual("\(e)", "ai.onnx::Foo: opsets 10...12 overlap the kernel already registered for 1...10")
        }
        // "" is ai.onnx.
        XCTAssertThrowsError(try r.registerChecked("Foo", domain: "", opsets: 5...5) { _, _ in { _, _ in [] } })
        XCTAssertNoThrow(try r.registerChecked("Foo", opsets: 11...Int.max) { _, _ in { _, _ in [] } })
        XCTAssertNoThrow(try r.registerChecked("Foo", domain: "ai.onnx.ml", opsets: 1...Int.max) { _, _ in { _, _ in [] } })
        XCTAssertEqual(r.opsetRanges(domain: "", op: "Foo"), [1...10, 11...Int.max])
    }

    /// Every kernel family registers into a fresh registry without an overlap (an overlap stops
    /// the process in `register`), and each op's ranges are disjoint and sorted by opset.
    func testEveryKernelFamilyRegistersDisjointOpsetRanges() {
        var r = KernelRegistry()
        r.registerEveryKernelFamily()
        XCTAssertEqual(r.supportedOps.count, KernelRegistry.standard.supportedOps.count)
        for (domain, op) in r.supportedOps {
            let ranges = r.opsetRanges(domain: domain, op: op).sorted { $0.lowerBound < $1.lowerBound }
            for (a, b) in zip(ranges, ranges.dropFirst()) {
                XCTAssertLessThan(a.upperBound, b.lowerBound, "\(domain)::\(op): \(a) overlaps \(b)")
            }
        }
    }
}
