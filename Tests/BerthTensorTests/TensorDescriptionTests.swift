import BerthTensor
import XCTest

final class TensorDescriptionTests: XCTestCase {
    /// Integers print exactly: a uint64 above Int64.max used to trap on its way through Double.
    func testIntegerExtremesPrintExactly() throws {
        let u = try Tensor(shape: [2], values: [UInt64.max, 1])
        XCTAssertEqual(u.description, "uint64[2] [18446744073709551615, 1]")
        let i = try Tensor(shape: [2], values: [Int64.max, Int64.min])
        XCTAssertEqual(i.description, "int64[2] [9223372036854775807, -9223372036854775808]")
    }
}
