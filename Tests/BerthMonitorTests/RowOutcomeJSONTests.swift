import BerthEval
import Foundation
import XCTest

@testable import BerthMonitor

/// The log writer's hand-built outcome JSON must read back exactly as Foundation's encoding of
/// the same value does (records written before and after the change are read by one decoder).
final class RowOutcomeJSONTests: XCTestCase {
    func testSameJSONAsTheSynthesizedEncoder() throws {
        let cases: [RowOutcome] = [
            .unknown,
            .values([0, -1.5, 3e-7, 123_456_789_012, 0.1 + 0.2]),
            .values([]),
            .classes([.number(1), .number(0), .number(2.5)], scores: [0.25, 0.125, 1]),
            .classes([.string("cat"), .string("say \"hi\"\n\\ \u{1}é🐟")], scores: nil),
        ]
        for outcome in cases {
            let fast = try XCTUnwrap(outcome.jsonText, "\(outcome)")
            let reference = try JSONEncoder().encode(outcome)
            XCTAssertEqual(try JSONDecoder().decode(RowOutcome.self, from: Data(fast.utf8)), outcome)
            let a = try JSONSerialization.jsonObject(with: Data(fast.utf8)) as? NSDictionary
            let b = try JSONSerialization.jsonObject(with: reference) as? NSDictionary
            XCTAssertEqual(a, b, fast)
        }
    }

    func testNonFiniteNumbersHaveNoJSON() {
        XCTAssertNil(RowOutcome.values([1, .nan]).jsonText)
        XCTAssertNil(RowOutcome.classes([.number(.infinity)], scores: nil).jsonText)
        XCTAssertThrowsError(try JSONEncoder().encode(RowOutcome.values([.nan])))
    }
}
