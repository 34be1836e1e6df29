@testable import BerthServer
import XCTest

/// The traffic split of registry models: which version answers a request, and which requests are
/// mirrored to the shadow (docs/registry.md, "Serving from the registry").
final class TrafficRouteTests: XCTestCase {
    private typealias Share = TrafficRoute.Share

    func testNoCanaryAlwaysPrimary() {
        let route = TrafficRoute(primary: 4)
        for key in [nil, "a", "b", "customer-17", ""] as [String?] {
            let pick = route.pick(key: key)
            XCTAssertEqual(pick?.version, 4, "key \(String(describing: key))")
            XCTAssertEqual(pick?.side, .production, "key \(String(describing: key))")
        }
        for _ in 0..<1000 {
            XCTAssertEqual(route.pick(key: nil)?.version, 4)
        }
        XCTAssertNil(route.mirror(key: nil))
        XCTAssertNil(route.mirror(key: "a"))
    }

    /// Keyed and random picks of `route` always land on `version`, on `side`.
    private func assertAlwaysPicks(_ route: TrafficRoute, version: Int, side: TrafficRoute.Side) {
        for i in 0..<5000 {
            for pick in [route.pick(key: "k\(i)"), route.pick(key: nil)] {
                XCTAssertEqual(pick?.version, version)
                XCTAssertEqual(pick?.side, side)
            }
        }
    }

    func testCanaryZeroPercentNeverPicksCanary() {
        assertAlwaysPicks(TrafficRoute(primary: 1, canary: Share(version: 2, percent: 0)), version: 1, side: .production)
    }

    func testCanaryHundredPercentAlwaysPicksCanary() {
        assertAlwaysPicks(TrafficRoute(primary: 1, canary: Share(version: 2, percent: 100)), version: 2, side: .canary)
    }

    func testRoutingKeyIsSticky() {
        let route = TrafficRoute(primary: 1, canary: Share(version: 2, percent: 30))
        var sides: Set<Int> = []
        for i in 0..<500 {
            let key = "user-\(i)"
            guard let first = route.pick(key: key) else { return XCTFail("no pick for \(key)") }
            sides.insert(first.version)
            XCTAssertEqual(first.side, first.version == 2 ? .canary : .production)
            for _ in 0..<20 {
                let again = route.pick(key: key)
                XCTAssertEqual(again?.version, first.version, "key \(key) moved")
                XCTAssertEqual(again?.side, first.side, "key \(key) moved")
            }
            // Another route value with the same split decides the same way (no per-instance seed).
            let copy = TrafficRoute(primary: 1, canary: Share(version: 2, percent: 30))
            XCTAssertEqual(copy.pick(key: key)?.version, first.version)
        }
        XCTAssertEqual(sides, [1, 2], "500 keys at 30 % must reach both sides")
    }

    func testKeyedCanaryShareWithinOnePercent() {
        let route = TrafficRoute(primary: 1, canary: Share(version: 2, percent: 10))
        let n = 20_000
        var canary = 0
        for i in 0..<n {
            guard let pick = route.pick(key: "request-key-\(i)") else { return XCTFail("no pick") }
            if pick.version == 2 {
                XCTAssertEqual(pick.side, .canary)
                canary += 1
            } else {
                XCTAssertEqual(pick.version, 1)
                XCTAssertEqual(pick.side, .production)
            }
        }
        let share = Double(canary) / Double(n) * 100
        XCTAssertEqual(share, 10, accuracy: 1, "canary share over \(n) keys: \(share) %")
    }

    func testKeyedCanaryShareWithUUIDKeys() {
        // Keys of another shape (UUIDs) spread as well.
        let route = TrafficRoute(primary: 1, canary: Share(version: 2, percent: 10))
        let n = 20_000
        var canary = 0
        for _ in 0..<n where route.pick(key: UUID().uuidString)?.version == 2 { canary += 1 }
        let share = Double(canary) / Double(n) * 100
        XCTAssertEqual(share, 10, accuracy: 1, "canary share over \(n) UUID keys: \(share) %")
    }

    func testRandomCanaryShareWithinOneAndAHalfPercent() {
        let route = TrafficRoute(primary: 1, canary: Share(version: 2, percent: 10))
        let n = 20_000
        var canary = 0
        var production = 0
        for _ in 0..<n {
            switch route.pick(key: nil)?.version {
            case 2: canary += 1
            case 1: production += 1
            default: XCTFail("unexpected pick")
            }
        }
        XCTAssertEqual(canary + production, n)
        let share = Double(canary) / Double(n) * 100
        XCTAssertEqual(share, 10, accuracy: 1.5, "random canary share: \(share) %")
    }

    func testMirrorShareKeyedAndRandom() {
        let route = TrafficRoute(primary: 1, shadow: Share(version: 3, percent: 10))
        let n = 20_000
        var keyed = 0
        for i in 0..<n {
            let m = route.mirror(key: "request-key-\(i)")
            if let m {
                XCTAssertEqual(m, 3)
                keyed += 1
            }
            // Sticky as well.
            XCTAssertEqual(route.mirror(key: "request-key-\(i)"), m)
            // A shadow never changes who answers.
            XCTAssertEqual(route.pick(key: "request-key-\(i)")?.version, 1)
        }
        XCTAssertEqual(Double(keyed) / Double(n) * 100, 10, accuracy: 1, "keyed mirror share")

        var random = 0
        for _ in 0..<n {
            if let m = route.mirror(key: nil) {
                XCTAssertEqual(m, 3)
                random += 1
            }
        }
        XCTAssertEqual(Double(random) / Double(n) * 100, 10, accuracy: 1.5, "random mirror share")
    }

    func testMirrorZeroAndHundredPercent() {
        let none = TrafficRoute(primary: 1, shadow: Share(version: 3, percent: 0))
        let all = TrafficRoute(primary: 1, shadow: Share(version: 3, percent: 100))
        for i in 0..<2000 {
            XCTAssertNil(none.mirror(key: "k\(i)"))
            XCTAssertNil(none.mirror(key: nil))
            XCTAssertEqual(all.mirror(key: "k\(i)"), 3)
            XCTAssertEqual(all.mirror(key: nil), 3)
        }
    }

    func testNoPrimaryPicksNothing() {
        XCTAssertNil(TrafficRoute(primary: nil).pick(key: nil))
        XCTAssertNil(TrafficRoute(primary: nil).pick(key: "k"))
        // Even with a canary at 100 %: requests without a version need production.
        let canaryOnly = TrafficRoute(primary: nil, canary: Share(version: 2, percent: 100))
        XCTAssertNil(canaryOnly.pick(key: nil))
        XCTAssertNil(canaryOnly.pick(key: "k"))
    }

    func testCanaryAndShadowTogether() {
        let route = TrafficRoute(primary: 1, canary: Share(version: 2, percent: 50), shadow: Share(version: 3, percent: 50))
        let n = 20_000
        var canary = 0, mirrored = 0, both = 0
        for i in 0..<n {
            let key = "mixed-\(i)"
            let c = route.pick(key: key)?.version == 2
            let m = route.mirror(key: key) == 3
            if c { canary += 1 }
            if m { mirrored += 1 }
            if c && m { both += 1 }
        }
        XCTAssertEqual(Double(canary) / Double(n) * 100, 50, accuracy: 1)
        XCTAssertEqual(Double(mirrored) / Double(n) * 100, 50, accuracy: 1)
        // The mirror decision is salted: it is not the same coin as the canary's, so about a
        // quarter of keys are both canary and mirrored (not half, not zero).
        XCTAssertEqual(Double(both) / Double(n) * 100, 25, accuracy: 2)
    }
}
