@testable import BerthMonitor
import XCTest

/// The statistics against values worked out by hand.
final class StatisticsTests: XCTestCase {
    func testKolmogorovSmirnovSeparatedSamples() throws {
        // D = 1; P(D ≥ 1) for n = m = 3 is 2 / C(6, 3) = 0.1.
        let r = try KolmogorovSmirnov.twoSample([1, 2, 3], [4, 5, 6])
        XCTAssertEqual(r.statistic, 1)
        XCTAssertEqual(r.pValue!, 0.1, accuracy: 1e-15)
        // Identical samples: D = 0, p = 1.
        XCTAssertEqual(try KolmogorovSmirnov.twoSample([1, 2, 2], [2, 1, 2]).pValue, 1)
    }

    func testChiSquare() throws {
        // χ² = 100/20 + 0 + 100/20 = 10 with 2 degrees of freedom: p = e^(-5).
        let r = try ChiSquare.test(observed: [10, 20, 30], expected: [20, 20, 20])
        XCTAssertEqual(r.statistic, 10, accuracy: 1e-12)
        XCTAssertEqual(r.pValue!, exp(-5), accuracy: 1e-15)
        // A category absent from the reference: χ² = ∞, p = 0.
        let s = try ChiSquare.categorical(reference: ["a", "a"], current: ["a", "b"])
        XCTAssertEqual(s.statistic, .infinity)
        XCTAssertEqual(s.pValue, 0)
    }

    func testWassersteinNormed() throws {
        XCTAssertEqual(try Wasserstein.distance([0, 1, 3], [5, 6, 8]), 5, accuracy: 1e-12)
        // np.std([0, 1, 3]) = √(42/27).
        XCTAssertEqual(try Wasserstein.normed(reference: [0, 1, 3], current: [5, 6, 8]), 5 / (42.0 / 27).squareRoot(), accuracy: 1e-12)
        // A constant reference divides by 0.001, not by zero.
        XCTAssertEqual(try Wasserstein.normed(reference: [2, 2], current: [3, 3]), 1000, accuracy: 1e-9)
    }

    func testJensenShannonAndPSI() throws {
        XCTAssertEqual(try JensenShannon.distance([1, 0], [0, 1]), log(2).squareRoot(), accuracy: 1e-15)
        XCTAssertEqual(try JensenShannon.distance([1, 2], [2, 4]), 0, accuracy: 1e-15)
        // Shares (0.5, 0.5) vs (0.25, 0.75): 0.25·ln 2 + 0.25·ln 1.5.
        let psi = PSI.samples(reference: .strings(["a", "b"]), current: .strings(["a", "b", "b", "b"]))
        XCTAssertEqual(psi, 0.25 * log(2) + 0.25 * log(1.5), accuracy: 1e-15)
    }

    func testZTest() throws {
        XCTAssertEqual(try ZTest.proportions(successes1: 50, n1: 100, successes2: 50, n2: 100).pValue!, 1, accuracy: 1e-15)
        // p1 = 0.6, p2 = 0.4, pooled 0.5: z = 0.2 / √(0.25 · 0.02) = 2√2.
        let r = try ZTest.proportions(successes1: 60, n1: 100, successes2: 40, n2: 100)
        XCTAssertEqual(r.statistic, 2 * 2.0.squareRoot(), accuracy: 1e-12)
        XCTAssertEqual(r.pValue!, erfc(2), accuracy: 1e-12)   // 2(1 − Φ(2√2)) = erfc(2)
    }

    func testSturgesEdgesAndHistogram() {
        // 8 values from 0 to 7: width 7 / (3 + 1), ⌈4⌉ = 4 bins of 1.75; the last bin holds its right edge.
        let edges = Binning.sturgesEdges([0, 1, 2, 3, 4, 5, 6, 7])
        XCTAssertEqual(edges, [0, 1.75, 3.5, 5.25, 7])
        XCTAssertEqual(Binning.histogram([0, 1, 2, 3, 4, 5, 6, 7], edges: edges), [2, 2, 2, 2])
    }

    func testDefaultMethods() throws {
        func column(_ r: [String], _ c: [String]) throws -> FeatureColumn {
            try FeatureColumn(reference: .init(name: "c", text: r), current: .init(name: "c", text: c),
                              referenceSource: "ref", currentSource: "cur")
        }
        let many = (0..<50).map { String(Double($0) / 3) }
        XCTAssertEqual(DriftDetector.defaultMethod(for: try column(many, many)).1, .ks)
        XCTAssertEqual(DriftDetector.defaultMethod(for: try column(["a", "b", "c"], ["a"])).1, .chisquare)
        XCTAssertEqual(DriftDetector.defaultMethod(for: try column(["a", "b", ""], ["a", "NaN"])).1, .z)
        // Integers with ≤ 10 distinct values are categories even with more than 5 values.
        let ints = (0..<40).map { String($0 % 8) }
        XCTAssertEqual(DriftDetector.defaultMethod(for: try column(ints, ints)).1, .chisquare)
        XCTAssertThrowsError(try column(["", "nan"], ["1"]))
    }
}
