import BerthONNX
import BerthTensor
import XCTest
@testable import BerthEval

final class FeedBuilderTests: XCTestCase {
    private func dataset(_ csv: String, label: String = "y") throws -> Dataset {
        try Dataset(table: try CSVReader.parse(Array(csv.utf8), source: "t.csv"), labelColumn: label)
    }

    private func expectError(_ fragments: [String], file: StaticString = #filePath, line: UInt = #line,
                             _ body: () throws -> Void) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            for f in fragments {
                XCTAssertTrue("\(error)".contains(f), "'\(error)' does not mention '\(f)'", file: file, line: line)
            }
        }
    }

    func testOne2DInputTakesFeatureColumnsInFileOrder() throws {
        let d = try dataset("b,y,a\n1,0,2\n3,1,4\n5,0,6\n")
        let input = ValueInfo(name: "X", dtype: .float32, shape: [.symbolic("N"), .fixed(2)])
        let feeds = try FeedBuilder(inputs: [input]).feeds(for: d.features)
        XCTAssertEqual(feeds["X"]?.shape, [3, 2])
        XCTAssertEqual(try feeds["X"]?.values(Float.self), [1, 2, 3, 4, 5, 6])
    }

    func testFeatureCountMismatchNamesTheColumns() throws {
        let d = try dataset("a,b,y\n1,2,0\n")
        let input = ValueInfo(name: "X", dtype: .float32, shape: [.symbolic("N"), .fixed(3)])
        expectError(["'X' takes 3 features", "2 feature columns", "'a', 'b'"]) {
            _ = try FeedBuilder(inputs: [input]).feeds(for: d.features)
        }
    }

    func testInputsByName() throws {
        let d = try dataset("id,color,size,y\n7,red,1.5,0\n8,blue,2,1\n")
        let inputs = [ValueInfo(name: "size", dtype: .float64, shape: [.unknown, .fixed(1)]),
                      ValueInfo(name: "color", dtype: .string, shape: [.unknown, .fixed(1)]),
                      ValueInfo(name: "id", dtype: .int64, shape: [.unknown])]
        let feeds = try FeedBuilder(inputs: inputs).feeds(for: d.features)
        XCTAssertEqual(feeds["size"]?.shape, [2, 1])
        XCTAssertEqual(try feeds["size"]?.values(Double.self), [1.5, 2])
        XCTAssertEqual(try feeds["color"]?.values(String.self), ["red", "blue"])
        XCTAssertEqual(feeds["id"]?.shape, [2])
        XCTAssertEqual(try feeds["id"]?.values(Int64.self), [7, 8])
    }

    func testMissingColumnForAnInput() throws {
        let d = try dataset("a,y\n1,0\n")
        let inputs = [ValueInfo(name: "a", dtype: .float32, shape: [.unknown, .fixed(1)]),
                      ValueInfo(name: "b", dtype: .float32, shape: [.unknown, .fixed(1)])]
        expectError(["no column 'b'", "model input 'b'", "'a'"]) { _ = try FeedBuilder(inputs: inputs).feeds(for: d.features) }
    }

    func testNonNumericAndNonIntegerValues() throws {
        let d = try dataset("a,b,y\n1,2,0\n3,x7,1\n")
        let input = ValueInfo(name: "X", dtype: .float32, shape: [.unknown, .fixed(2)])
        expectError(["row 2 (line 3)", "column 'b'", "'x7' is not a number"]) {
            _ = try FeedBuilder(inputs: [input]).feeds(for: d.features)
        }
        let ints = try dataset("a,b,y\n1,2,0\n3,4.5,1\n")
        let intInput = ValueInfo(name: "X", dtype: .int64, shape: [.unknown, .fixed(2)])
        expectError(["row 2 (line 3)", "column 'b'", "'4.5' is not an integer"]) {
            _ = try FeedBuilder(inputs: [intInput]).feeds(for: ints.features)
        }
    }
}
