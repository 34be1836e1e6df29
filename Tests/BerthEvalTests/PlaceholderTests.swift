import XCTest
@testable import BerthEval

final class PlaceholderTests: XCTestCase {
    func testModuleLinks() { XCTAssertNotNil(BerthEval.self as Any?) }
}
