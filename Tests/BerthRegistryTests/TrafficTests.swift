@testable import BerthRegistry
import Foundation
import XCTest

/// Traffic policies and what a server is told to deploy.
final class TrafficTests: RegistryTestCase {
    private let by = Change(actor: "ana")
    private let v1 = TestModels.bytes(producer: "v1")
    private let v2 = TestModels.bytes(producer: "v2")
    private let v3 = TestModels.bytes(producer: "v3")

    /// digits 1 (production), 2 (candidate), 3 (shadow).
    private func populate() throws {
        try push("digits", v1)
        try push("digits", v2)
        try push("digits", v3)
        try registry.setAlias("digits", "production", version: 1, change: by)
        try registry.setAlias("digits", "candidate", version: 2, change: by)
        try registry.setAlias("digits", "shadow", version: 3, change: by)
    }

    func testNoTrafficPolicyByDefault() throws {
        try populate()
        XCTAssertEqual(try registry.traffic("digits"), TrafficPolicy(model: "digits"))
    }

    func testSetTrafficResolvesVersions() throws {
        try populate()
        let set = try registry.setTraffic("digits", TrafficPolicy(canary: .init(alias: "candidate", percent: 10),
                                                                  shadow: .init(alias: "shadow", percent: 100)),
                                          change: Change(actor: "ana", reason: "canary 2"))
        let expected = TrafficPolicy(model: "digits", canary: .init(alias: "candidate", percent: 10, version: 2),
                                     shadow: .init(alias: "shadow", percent: 100, version: 3))
        XCTAssertEqual(set, expected)
        XCTAssertEqual(try registry.traffic("digits"), expected)
        let event = try registry.history("digits", alias: nil).last
        XCTAssertEqual(event?.action, .traffic)
        XCTAssertEqual(event?.reason, "canary 2")
    }

    func testTrafficVersionFollowsTheAlias() throws {
        try populate()
        try registry.setTraffic("digits", TrafficPolicy(canary: .init(alias: "candidate", percent: 25)), change: by)
        try registry.setAlias("digits", "candidate", version: 3, change: by)
        XCTAssertEqual(try registry.traffic("digits").canary, .init(alias: "candidate", percent: 25, version: 3))
        XCTAssertNil(try registry.traffic("digits").shadow)
    }

    func testClearingTheTraffic() throws {
        try populate()
        try registry.setTraffic("digits", TrafficPolicy(canary: .init(alias: "candidate", percent: 10),
                                                        shadow: .init(alias: "shadow", percent: 50)), change: by)
        let cleared = try registry.setTraffic("digits", TrafficPolicy(), change: by)
        XCTAssertEqual(cleared, TrafficPolicy(model: "digits"))
        XCTAssertEqual(try registry.traffic("digits"), TrafficPolicy(model: "digits"))
    }

    func testReplacingOneSplitDropsTheOther() throws {
        try populate()
        try registry.setTraffic("digits", TrafficPolicy(canary: .init(alias: "candidate", percent: 10)), change: by)
        try registry.setTraffic("digits", TrafficPolicy(shadow: .init(alias: "shadow", percent: 5)), change: by)
        XCTAssertEqual(try registry.traffic("digits"),
                       TrafficPolicy(model: "digits", shadow: .init(alias: "shadow", percent: 5, version: 3)))
    }

    func testTrafficIsPerModel() throws {
        try populate()
        try push("iris", TestModels.bytes(producer: "iris"))
        try registry.setAlias("iris", "candidate", version: 1, change: by)
        try registry.setTraffic("digits", TrafficPolicy(canary: .init(alias: "candidate", percent: 10)), change: by)
        XCTAssertEqual(try registry.traffic("iris"), TrafficPolicy(model: "iris"))
        XCTAssertEqual(try registry.traffic("digits").canary?.version, 2)
    }

    // MARK: Deployments

    func testDeploymentsListAliasedVersionsWithTheirDigests() throws {
        try populate()
        try push("digits", TestModels.bytes(producer: "v4"))                 // 4: not aliased
        try registry.setTraffic("digits", TrafficPolicy(canary: .init(alias: "candidate", percent: 10),
                                                        shadow: .init(alias: "shadow", percent: 100)), change: by)
        let deployments = try registry.deployments()
        XCTAssertEqual(deployments.count, 1)
        let d = try XCTUnwrap(deployments.first)
        XCTAssertEqual(d.model, "digits")
        XCTAssertEqual(d.versions, [1: sha256Hex(v1), 2: sha256Hex(v2), 3: sha256Hex(v3)])
        XCTAssertEqual(d.production, 1)
        XCTAssertEqual(d.traffic, TrafficPolicy(model: "digits", canary: .init(alias: "candidate", percent: 10, version: 2),
                                                shadow: .init(alias: "shadow", percent: 100, version: 3)))
    }

    func testModelsWithoutAliasesAreNotDeployed() throws {
        try populate()
        try push("iris", TestModels.bytes(producer: "iris"))
        XCTAssertEqual(try registry.deployments().map(\.model), ["digits"])
        try registry.setAlias("iris", "staging", version: 1, change: by)
        let deployments = try registry.deployments()
        XCTAssertEqual(deployments.map(\.model), ["digits", "iris"])
        XCTAssertEqual(deployments[1].versions, [1: sha256Hex(TestModels.bytes(producer: "iris"))])
        XCTAssertNil(deployments[1].production)
        XCTAssertEqual(deployments[1].traffic, TrafficPolicy(model: "iris"))
    }

    func testNoDeploymentsWhenNothingIsAliased() throws {
        try push("digits")
        XCTAssertEqual(try registry.deployments(), [])
        try registry.setAlias("digits", "production", version: 1, change: by)
        try registry.removeAlias("digits", "production", change: by)
        XCTAssertEqual(try registry.deployments(), [])
    }

    func testTwoAliasesOnOneVersionDeployItOnce() throws {
        try push("digits", v1)
        try registry.setAlias("digits", "production", version: 1, change: by)
        try registry.setAlias("digits", "champion", version: 1, change: by)
        let d = try XCTUnwrap(try registry.deployments().first)
        XCTAssertEqual(d.versions, [1: sha256Hex(v1)])
        XCTAssertEqual(d.production, 1)
    }

    func testDeploymentsFollowPromotionAndRollback() throws {
        try populate()
        try registry.promote("digits", version: 2, gates: [], alias: "production", change: by)
        var d = try XCTUnwrap(try registry.deployments().first)
        XCTAssertEqual(d.production, 2)
        XCTAssertEqual(d.versions, [2: sha256Hex(v2), 3: sha256Hex(v3)])
        try registry.rollback("digits", alias: "production", change: by)
        d = try XCTUnwrap(try registry.deployments().first)
        XCTAssertEqual(d.production, 1)
        XCTAssertEqual(d.versions, [1: sha256Hex(v1), 2: sha256Hex(v2), 3: sha256Hex(v3)])
    }

    /// `Deployment.traffic` is documented as "splits whose alias is unset are dropped".
    func testDeploymentDropsASplitWhoseAliasIsUnset() throws {
        try populate()
        try registry.setTraffic("digits", TrafficPolicy(canary: .init(alias: "candidate", percent: 10),
                                                        shadow: .init(alias: "shadow", percent: 100)), change: by)
        try registry.removeAlias("digits", "candidate", change: by)
        let d = try XCTUnwrap(try registry.deployments().first)
        XCTAssertEqual(d.versions, [1: sha256Hex(v1), 3: sha256Hex(v3)])
        XCTAssertNil(d.traffic.canary, "the canary's alias is gone; got \(String(describing: d.traffic.canary))")
        XCTAssertEqual(d.traffic.shadow, .init(alias: "shadow", percent: 100, version: 3))
    }
}
