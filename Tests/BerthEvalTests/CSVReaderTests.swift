import XCTest
@testable import BerthEval

final class CSVReaderTests: XCTestCase {
    private func parse(_ text: String) throws -> Table { try CSVReader.parse(Array(text.utf8), source: "t.csv") }

    /// Runs `body`, which must throw an EvalError whose message contains every fragment.
    private func expectError(_ fragments: [String], file: StaticString = #filePath, line: UInt = #line,
                             _ body: () throws -> Void) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            XCTAssertTrue(error is EvalError, "\(type(of: error)): \(error)", file: file, line: line)
            for f in fragments {
                XCTAssertTrue("\(error)".contains(f), "'\(error)' does not mention '\(f)'", file: file, line: line)
            }
        }
    }

    func testTypesAndQuoting() throws {
        let t = try parse("\u{FEFF}x,name,y\r\n1.5,\"Smith, J.\",0\r\n-2e3,\"say \"\"hi\"\"\",1\n\n.5,\"two\nlines\",1")
        XCTAssertEqual(t.names, ["x", "name", "y"])
        XCTAssertEqual(t.rowCount, 3)
        XCTAssertEqual(t.columns[0].numbers, [1.5, -2000, 0.5])
        XCTAssertNil(t.columns[1].numbers)
        XCTAssertEqual(t.columns[1].text, ["Smith, J.", "say \"hi\"", "two\nlines"])
        XCTAssertEqual(t.columns[2].numbers, [0, 1, 1])
        XCTAssertEqual(t.lines, [2, 3, 5], "the blank line 4 is skipped; row 3 starts on line 5")
    }

    func testNumbersAsPythonFloatReadsThem() {
        for (s, v) in [(" 3 ", 3.0), ("+1e-3", 0.001), ("-0", 0), ("1.", 1), ("inf", .infinity), ("-Infinity", -.infinity)] {
            XCTAssertEqual(Column.parseNumber(s), v, s)
        }
        XCTAssertTrue(Column.parseNumber("NaN")!.isNaN)
        for s in ["", " ", "0x10", "1,5", "abc", "1e", "--1", "1_000", "nan(1)"] {
            XCTAssertNil(Column.parseNumber(s), s)
        }
    }

    func testEmptyFile() {
        expectError(["t.csv is empty", "header"]) { _ = try self.parse("") }
        expectError(["t.csv is empty"]) { _ = try self.parse("\n\r\n") }
        expectError(["t.csv has a header but no data rows"]) { _ = try self.parse("a,b\n") }
    }

    func testRaggedRowsNameRowAndLine() {
        expectError(["row 2 (line 3)", "3 fields", "header has 2 columns"]) { _ = try self.parse("a,b\n1,2\n3,4,5\n") }
        expectError(["row 1 (line 2)", "1 field,"]) { _ = try self.parse("a,b\n1\n") }
    }

    func testMalformedQuotes() {
        expectError(["line 2", "never closed"]) { _ = try self.parse("a,b\n\"1,2\n3,4\n") }
        expectError(["line 2", "after a closing quote"]) { _ = try self.parse("a,b\n\"1\"x,2\n") }
        expectError(["'a' twice"]) { _ = try self.parse("a,a\n1,2\n") }
    }

    func testLabelColumnAbsent() throws {
        let t = try parse("x1,x2,species\n1,2,a\n")
        expectError(["no column 'label'", "--label", "'x1', 'x2', 'species'"]) { _ = try Dataset(table: t, labelColumn: "label") }
        let d = try Dataset(table: t, labelColumn: "species")
        guard case let .table(features) = d.features else { return XCTFail("table expected") }
        XCTAssertEqual(features.names, ["x1", "x2"])
        XCTAssertEqual(d.labels.text, ["a"])
    }

    func testNonNumericValueNamesRowAndColumn() throws {
        let t = try parse("x1,x2,y\n1,2,0\n3,abc,1\n")
        XCTAssertNil(t.columns[1].numbers)
        expectError(["row 2 (line 3)", "column 'x2'", "'abc' is not a number"]) { _ = try t.columns[1].numericValues() }
    }
}
