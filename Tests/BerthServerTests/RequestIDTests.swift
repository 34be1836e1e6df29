@testable import BerthServer
import Foundation
import XCTest

final class RequestIDTests: XCTestCase {
    /// The hex form equals Foundation's formatting of the same 16 bytes.
    func testFormatMatchesFoundation() {
        var g = SystemRandomNumberGenerator()
        for _ in 0..<1000 {
            let high = g.next() as UInt64, low = g.next() as UInt64
            let bytes = withUnsafeBytes(of: (high.bigEndian, low.bigEndian)) { Array($0) }
            let uuid = UUID(uuid: (bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                                   bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]))
            XCTAssertEqual(RequestID.format(high, low), uuid.uuidString.lowercased())
        }
    }

    /// Ids are distinct, parse as UUIDs and carry version 4 and the RFC 4122 variant.
    func testIdsAreDistinctVersion4UUIDs() {
        var seen = Set<String>()
        for _ in 0..<100_000 {
            let id = RequestID.next()
            XCTAssertTrue(seen.insert(id).inserted, "repeated id \(id)")
        }
        for id in seen.prefix(1000) {
            guard let u = UUID(uuidString: id) else { return XCTFail("not a UUID: \(id)") }
            XCTAssertEqual(u.uuid.6 >> 4, 4)
            XCTAssertEqual(u.uuid.8 >> 6, 0b10)
        }
    }
}
