import BerthEngine
import BerthONNX
import BerthTensor
import XCTest

/// Gelu (opset 20) has no node test in ONNX 1.12, so it is checked against reference values.
final class GeluTests: XCTestCase {
    static let inputs: [Float] = [-6, -3, -1.5, -0.5, -1e-3, 0, 1e-3, 0.5, 1, 2.25, 4, 8]

    // Reference values computed in float64 with SciPy/NumPy from the float32 inputs above:
    //   none: 0.5 * x * scipy.special.erfc(-x / sqrt(2))
    //   tanh: 0.5 * x * (1 + numpy.tanh(sqrt(2 / pi) * (x + 0.044715 * x**3)))
    static let exact: [Double] = [
        -5.9195258702262109e-09, -4.0496940948902879e-03, -1.0021080190328713e-01, -1.5426876936299347e-01,
        -4.9960108149691709e-04, 0.0, 5.0039896600053411e-04, 3.4573123063700650e-01,
        8.4134474606854293e-01, 2.2224949365261493e+00, 3.9998733150326675e+00, 7.9999999999999947e+00,
    ]
    static let tanhApproximation: [Double] = [
        -8.4396489796745300e-11, -3.6373920817729943e-03, -1.0042842301976707e-01, -1.5428599017485606e-01,
        -4.9960108149724625e-04, 0.0, 5.0039896600020505e-04, 3.4571400982514394e-01,
        8.4119199060827676e-01, 2.2227986701027111e+00, 3.9999297540518075e+00, 8.0000000000000000e+00,
    ]

    func run(_ input: Tensor, approximate: String?) throws -> Tensor {
        var attributes: [String: Attribute] = [:]
        if let approximate { attributes["approximate"] = .string(approximate) }
        let node = Node(name: "gelu", opType: "Gelu", inputs: ["x"], outputs: ["y"], attributes: attributes)
        let factory = try XCTUnwrap(KernelRegistry.standard.factory(domain: "", op: "Gelu", opset: 20))
        let kernel = try factory(node, 20)
        let out = try kernel([input], KernelContext(pool: ThreadPool(threads: 2)))
        XCTAssertEqual(out.count, 1)
        XCTAssertEqual(out[0].shape, input.shape)
        return out[0]
    }

    func check(_ got: Tensor, _ want: [Double], tolerance: Double) {
        XCTAssertEqual(got.count, want.count)
        for i in 0..<min(got.count, want.count) {
            XCTAssertEqual(got.storage.double(at: i), want[i], accuracy: tolerance, "element \(i)")
        }
    }

    func testExactFloat32() throws {
        check(try run(try Tensor(shape: [3, 4], values: Self.inputs), approximate: nil), Self.exact, tolerance: 1e-6)
        check(try run(try Tensor(shape: [12], values: Self.inputs), approximate: "none"), Self.exact, tolerance: 1e-6)
    }

    func testTanhFloat32() throws {
        check(try run(try Tensor(shape: [12], values: Self.inputs), approximate: "tanh"), Self.tanhApproximation, tolerance: 1e-6)
    }

    func testFloat64() throws {
        let x = try Tensor(shape: [12], values: Self.inputs.map { Double($0) })
        check(try run(x, approximate: "none"), Self.exact, tolerance: 1e-12)
        check(try run(x, approximate: "tanh"), Self.tanhApproximation, tolerance: 1e-12)
    }

    func testFloat16() throws {
        let x = try Tensor(shape: [12], values: Self.inputs.map { Float16($0) })
        // float16 results are rounded to 11 significant bits.
        let got = try run(x, approximate: "none")
        XCTAssertEqual(got.dtype, .float16)
        for i in 0..<Self.exact.count {
            XCTAssertEqual(got.storage.double(at: i), Self.exact[i], accuracy: 1e-3 * max(1, abs(Self.exact[i])))
        }
    }

    /// A tensor big enough to be split across threads gives the same values as element-wise runs.
    func testLargeTensorMatchesReference() throws {
        let n = 100_000
        let values = (0..<n).map { Self.inputs[$0 % Self.inputs.count] }
        let got = try run(try Tensor(shape: [n], values: values), approximate: "none")
        check(got, (0..<n).map { Self.exact[$0 % Self.exact.count] }, tolerance: 1e-6)
    }

    func testRejectsUnknownApproximation() {
        XCTAssertThrowsError(try run(try Tensor(shape: [1], values: [Float(1)]), approximate: "fast"))
    }

    func testRejectsIntegerInput() {
        XCTAssertThrowsError(try run(try Tensor(shape: [1], values: [Int32(1)]), approximate: nil))
    }
}
