import BerthTensor
import Foundation
import XCTest

final class NPYTests: XCTestCase {
    func testRoundTripEveryNumericDType() throws {
        for dtype in DType.allCases where dtype != .string {
            let t = try Tensor.zeros(dtype, shape: [2, 3])
            let back = try NPY.read(NPY.write(t))
            XCTAssertEqual(back.dtype, dtype)
            XCTAssertEqual(back.shape, [2, 3])
        }
        let f = try Tensor(shape: [3], values: [Float(1.5), -2, .infinity])
        XCTAssertEqual(try NPY.read(NPY.write(f)).floats, [1.5, -2, .infinity])
        let scalar = Tensor.scalar(Int64(-7))
        let s2 = try NPY.read(NPY.write(scalar))
        XCTAssertEqual(s2.shape, [])
        XCTAssertEqual(try s2.values(Int64.self), [-7])
    }

    func testStringsRoundTripAsUnicode() throws {
        let t = try Tensor(shape: [2], values: ["héllo", "x"])
        XCTAssertEqual(try NPY.read(NPY.write(t)).values(String.self), ["héllo", "x"])
    }

    /// A header written by NumPy itself (np.save of np.arange(6, dtype='<f4').reshape(2,3)).
    func testReadsNumPyHeader() throws {
        var d = Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0])
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"
        header += String(repeating: " ", count: 117 - header.count) + "\n"
        d.append(contentsOf: [UInt8(header.utf8.count), 0])
        d.append(header.data(using: .utf8)!)
        for v in 0..<6 { withUnsafeBytes(of: Float(v)) { d.append(contentsOf: $0) } }
        let t = try NPY.read(d)
        XCTAssertEqual(t.shape, [2, 3])
        XCTAssertEqual(t.floats, [0, 1, 2, 3, 4, 5])
    }

    func testRejectsTruncatedAndHostileFiles() throws {
        let good = NPY.write(try Tensor(shape: [4], values: [Float](repeating: 1, count: 4)))
        for cut in [0, 5, 9, 20, good.count - 1] {
            XCTAssertThrowsError(try NPY.read(good.prefix(cut)), "cut at \(cut)")
        }
        // A shape whose element count overflows must be refused, not allocated.
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (9223372036854775807, 4), }"
        header += String(repeating: " ", count: 117 - header.count) + "\n"
        var d = Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0, UInt8(header.utf8.count), 0])
        d.append(header.data(using: .utf8)!)
        XCTAssertThrowsError(try NPY.read(d))
    }

    func testShapeArithmeticIsChecked() {
        XCTAssertThrowsError(try Shape.elementCount([Int.max, 2]))
        XCTAssertThrowsError(try Shape.elementCount([-1, 2]))
        XCTAssertEqual(try Shape.elementCount([2, 3, 4]), 24)
        XCTAssertEqual(Shape.broadcast([2, 1, 4], [3, 1]), [2, 3, 4])
        XCTAssertNil(Shape.broadcast([2, 3], [4]))
        XCTAssertThrowsError(try Tensor(shape: [2, 2], values: [Float(1)]))
    }
}
