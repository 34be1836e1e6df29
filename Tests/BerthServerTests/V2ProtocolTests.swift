import BerthEngine
import BerthServer
import BerthTensor
import Foundation
import Hummingbird
import HTTPTypes
import HummingbirdTesting
import XCTest

/// Starts the real server over a repository holding the digits model and talks V2 to it.
final class V2ProtocolTests: XCTestCase {
    static func randomRows(_ rows: Int, seed: UInt64) -> [Float] {
        var s = seed &* 6364136223846793005 &+ 1442695040888963407
        return (0..<rows * 64).map { _ in
            s = s &* 6364136223846793005 &+ 1442695040888963407
            return Float((s >> 40) % 17)
        }
    }

    static func jsonRequest(_ x: [Float], rows: Int, id: String? = nil, outputs: [String]? = nil) -> String {
        // Nested data, one array per row.
        let nested = (0..<rows).map { r in "[" + x[r * 64..<(r + 1) * 64].map { "\($0)" }.joined(separator: ",") + "]" }
        var s = "{"
        if let id { s += "\"id\":\"\(id)\"," }
        s += "\"inputs\":[{\"name\":\"input\",\"shape\":[\(rows),64],\"datatype\":\"FP32\",\"data\":[\(nested.joined(separator: ","))]}]"
        if let outputs { s += ",\"outputs\":[" + outputs.map { "{\"name\":\"\($0)\"}" }.joined(separator: ",") + "]" }
        return s + "}"
    }

    func testHealthAndMetadata() async throws {
        let h = try await ServerHarness.start(root: try ServerHarness.makeRepository(models: ["digits": [1]]))
        let live = try await h.request(.get, "/v2/health/live")
        XCTAssertEqual(live.status, .ok)
        // The V2 protocol's bodies (the kserve SDK reads `live` / `ready`), Triton's statuses.
        XCTAssertEqual(try ServerHarness.json(live)["live"] as? Bool, true)
        let serverReady = try await h.request(.get, "/v2/health/ready")
        XCTAssertEqual(try ServerHarness.json(serverReady)["ready"] as? Bool, true)
        let modelReady = try ServerHarness.json(try await h.request(.get, "/v2/models/digits/ready"))
        XCTAssertEqual(modelReady["name"] as? String, "digits")
        XCTAssertEqual(modelReady["ready"] as? Bool, true)
        let meta = try ServerHarness.json(try await h.request(.get, "/v2"))
        XCTAssertEqual(meta["name"] as? String, "berth")
        XCTAssertTrue((meta["extensions"] as? [String])?.contains("binary_tensor_data") == true)
        let model = try ServerHarness.json(try await h.request(.get, "/v2/models/digits"))
        XCTAssertEqual(model["name"] as? String, "digits")
        XCTAssertEqual(model["versions"] as? [String], ["1"])
        let inputs = model["inputs"] as? [[String: Any]]
        XCTAssertEqual(inputs?.first?["name"] as? String, "input")
        XCTAssertEqual(inputs?.first?["datatype"] as? String, "FP32")
        XCTAssertEqual(inputs?.first?["shape"] as? [Int], [-1, 64])
        let outputs = (model["outputs"] as? [[String: Any]])?.compactMap { $0["name"] as? String }
        XCTAssertEqual(outputs, ["label", "probabilities"])
        let versioned = try await h.request(.get, "/v2/models/digits/versions/1")
        XCTAssertEqual(versioned.status, .ok)
        let ready = try await h.request(.get, "/v2/models/digits/ready")
        XCTAssertEqual(ready.status, .ok)
        let readyV = try await h.request(.get, "/v2/models/digits/versions/1/ready")
        XCTAssertEqual(readyV.status, .ok)
        let unknown = try await h.request(.get, "/v2/models/nope/ready")
        XCTAssertEqual(unknown.status, .notFound)
        let badVersion = try await h.request(.get, "/v2/models/digits/versions/7")
        XCTAssertEqual(badVersion.status, .notFound)
        let config = try ServerHarness.json(try await h.request(.get, "/v2/models/digits/config"))
        XCTAssertEqual(config["max_batch_size"] as? Int, 32)
        await h.stop()
    }

    func testJSONInferMatchesSession() async throws {
        let h = try await ServerHarness.start(root: try ServerHarness.makeRepository(models: ["digits": [1]]))
        let session = try Session(contentsOf: ServerHarness.digitsModel)
        let x = Self.randomRows(3, seed: 7)
        let expected = try session.run(["input": try Tensor(shape: [3, 64], values: x)])
        let r = try await h.post("/v2/models/digits/infer", json: Self.jsonRequest(x, rows: 3, id: "req-42"))
        XCTAssertEqual(r.status, .ok)
        let body = try ServerHarness.json(r)
        XCTAssertEqual(body["id"] as? String, "req-42")
        XCTAssertEqual(body["model_name"] as? String, "digits")
        XCTAssertEqual(body["model_version"] as? String, "1")
        let outs = body["outputs"] as! [[String: Any]]
        let probs = outs.first { $0["name"] as? String == "probabilities" }!
        XCTAssertEqual(probs["datatype"] as? String, "FP32")
        XCTAssertEqual(probs["shape"] as? [Int], [3, 10])
        let got = (probs["data"] as! [NSNumber]).map(\.floatValue)
        let want = try expected["probabilities"]!.values(Float.self)
        for (a, b) in zip(got, want) { XCTAssertEqual(a, b, accuracy: 1e-6) }
        let label = outs.first { $0["name"] as? String == "label" }!
        XCTAssertEqual(label["datatype"] as? String, "INT64")
        XCTAssertEqual((label["data"] as! [NSNumber]).map(\.int64Value), try expected["label"]!.values(Int64.self))

        // Requested outputs only.
        let only = try ServerHarness.json(try await h.post("/v2/models/digits/versions/1/infer",
                                                           json: Self.jsonRequest(x, rows: 3, outputs: ["label"])))
        XCTAssertEqual((only["outputs"] as? [[String: Any]])?.map { $0["name"] as? String }, ["label"])
        await h.stop()
    }

    func testBinaryInfer() async throws {
        let h = try await ServerHarness.start(root: try ServerHarness.makeRepository(models: ["digits": [1]]))
        let session = try Session(contentsOf: ServerHarness.digitsModel)
        let x = Self.randomRows(2, seed: 3)
        let expected = try session.run(["input": try Tensor(shape: [2, 64], values: x)])
        let header = "{\"inputs\":[{\"name\":\"input\",\"shape\":[2,64],\"datatype\":\"FP32\",\"parameters\":{\"binary_data_size\":512}}],"
            + "\"outputs\":[{\"name\":\"probabilities\",\"parameters\":{\"binary_data\":true}},{\"name\":\"label\"}]}"
        var body = ByteBuffer(string: header)
        x.withUnsafeBytes { _ = body.writeBytes($0) }
        var headers = HTTPFields()
        headers[HTTPField.Name("Inference-Header-Content-Length")!] = String(header.utf8.count)
        let r = try await h.request(.post, "/v2/models/digits/infer", body: body, headers: headers)
        XCTAssertEqual(r.status, .ok)
        let jsonLength = Int(r.headers[HTTPField.Name("Inference-Header-Content-Length")!] ?? "") ?? -1
        var buf = r.body!
        let json = try JSONSerialization.jsonObject(with: Data(buf.readBytes(length: jsonLength)!)) as! [String: Any]
        let outs = json["outputs"] as! [[String: Any]]
        XCTAssertEqual(outs.map { $0["name"] as? String }, ["probabilities", "label"])
        XCTAssertEqual((outs[0]["parameters"] as? [String: Any])?["binary_data_size"] as? Int, 80)
        let raw = buf.readBytes(length: 80)!
        let probs = raw.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        XCTAssertEqual(probs, try expected["probabilities"]!.values(Float.self))
        XCTAssertEqual((outs[1]["data"] as! [NSNumber]).map(\.int64Value), try expected["label"]!.values(Int64.self))
        await h.stop()
    }

    func testErrorsHaveStatusAndMessage() async throws {
        let h = try await ServerHarness.start(root: try ServerHarness.makeRepository(models: ["digits": [1]]), maxBodySize: 64 * 1024)
        func check(_ json: String, _ status: HTTPResponse.Status, _ fragment: String, path: String = "/v2/models/digits/infer",
                   line: UInt = #line) async throws {
            let r = try await h.post(path, json: json)
            XCTAssertEqual(r.status, status, line: line)
            let msg = (try? ServerHarness.json(r))?["error"] as? String ?? ""
            XCTAssertTrue(msg.contains(fragment), "'\(msg)' lacks '\(fragment)'", line: line)
        }
        let ok = Self.jsonRequest(Self.randomRows(1, seed: 1), rows: 1)
        try await check("{\"inputs\": [", .badRequest, "malformed JSON")
        try await check("not json", .badRequest, "malformed JSON")
        try await check(ok.replacingOccurrences(of: "[1,64]", with: "[1,63]"), .badRequest, "shape")
        try await check(ok.replacingOccurrences(of: "FP32", with: "FP64"), .badRequest, "datatype")
        try await check(ok.replacingOccurrences(of: "FP32", with: "FP99"), .badRequest, "unsupported datatype")
        try await check(ok.replacingOccurrences(of: "\"input\"", with: "\"pixels\""), .badRequest, "unknown input 'pixels'")
        try await check(ok.replacingOccurrences(of: "[1,64]", with: "[2,64]"), .badRequest, "needs 128 elements")
        try await check("{\"inputs\":[]}", .badRequest, "inputs")
        try await check(ok, .notFound, "unknown model 'nope'", path: "/v2/models/nope/infer")
        try await check(ok, .notFound, "unknown version '9'", path: "/v2/models/digits/versions/9/infer")
        try await check(ok.replacingOccurrences(of: "\"outputs\"", with: "\"x\"").replacingOccurrences(of: "}]}", with: "}],\"outputs\":[{\"name\":\"zzz\"}]}"),
                        .badRequest, "unknown output 'zzz'")
        let big = String(repeating: " ", count: 70 * 1024) + ok
        try await check(big, .contentTooLarge, "exceeds")
        try await check(ok, .notFound, "no route: POST /v2/nowhere", path: "/v2/nowhere")
        // Still serving.
        let r = try await h.post("/v2/models/digits/infer", json: ok)
        XCTAssertEqual(r.status, .ok)
        await h.stop()
    }

    func testConcurrentClientsGetTheirOwnRows() async throws {
        let root = try ServerHarness.makeRepository(
            models: ["digits": [1]],
            configs: ["digits": "{\"max_batch_size\": 64, \"dynamic_batching\": {\"max_queue_delay_us\": 20000}}"])
        let h = try await ServerHarness.start(root: root)
        let session = try Session(contentsOf: ServerHarness.digitsModel, options: SessionOptions(intraOpThreads: 1))
        let clients = 64
        // References first, one row at a time, on a session configured like the server's (one
        // intra-op thread), so that the clients below only race each other through the server.
        let inputs = (0..<clients).map { Self.randomRows(1, seed: UInt64($0 + 100)) }
        let wants = try inputs.map { try session.run(["input": try Tensor(shape: [1, 64], values: $0)])["probabilities"]!.values(Float.self) }
        let problems = try await withThrowingTaskGroup(of: String?.self) { group in
            for i in 0..<clients {
                group.addTask {
                    let (x, want) = (inputs[i], wants[i])
                    let r = try await h.post("/v2/models/digits/infer", json: Self.jsonRequest(x, rows: 1, id: "c\(i)"))
                    guard r.status == .ok else { return "client \(i): HTTP \(r.status)" }
                    let body = try ServerHarness.json(r)
                    guard body["id"] as? String == "c\(i)" else { return "client \(i): id \(body["id"] ?? "none")" }
                    let probs = (body["outputs"] as! [[String: Any]]).first { $0["name"] as? String == "probabilities" }!
                    let got = (probs["data"] as! [NSNumber]).map(\.floatValue)
                    // Merged batches may take another GEMM path than a single row: compare within fp32 tolerance.
                    let same = got.count == want.count && zip(got, want).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) }
                    return same ? nil : "client \(i): got \(got) want \(want)"
                }
            }
            var out: [String] = []
            for try await p in group { if let p { out.append(p) } }
            return out
        }
        XCTAssertEqual(problems, [], "every client gets exactly its own answer")
        let stats = try ServerHarness.json(try await h.request(.get, "/v2/models/digits/stats"))
        let m = (stats["model_stats"] as! [[String: Any]])[0]
        let inferences = m["inference_count"] as! Int
        let executions = m["execution_count"] as! Int
        XCTAssertEqual(inferences, clients)
        XCTAssertLessThan(executions, inferences, "requests were merged into batches")
        await h.stop()
    }

    func testExplicitLoadUnloadAndFailedLoadKeepsOldVersion() async throws {
        let root = try ServerHarness.makeRepository(models: ["digits": [1]])
        let h = try await ServerHarness.start(root: root, control: .explicit)
        let idx = try await h.request(.post, "/v2/repository/index")
        XCTAssertEqual(idx.status, .ok)
        let v1 = try await h.request(.get, "/v2/models/digits/ready").status
        XCTAssertEqual(v1, .notFound)
        let v2 = try await h.request(.post, "/v2/repository/models/digits/load").status
        XCTAssertEqual(v2, .ok)
        let v3 = try await h.request(.get, "/v2/models/digits/ready").status
        XCTAssertEqual(v3, .ok)
        let v4 = try await h.request(.post, "/v2/repository/models/nope/load").status
        XCTAssertEqual(v4, .notFound)

        // A broken version 2 fails to load; version 1 keeps serving.
        try ServerHarness.addVersion(root: root, model: "digits", version: 2, contents: Data("not a model".utf8))
        let failed = try await h.request(.post, "/v2/repository/models/digits/load")
        XCTAssertEqual(failed.status, .badRequest)
        XCTAssertTrue(((try? ServerHarness.json(failed))?["error"] as? String ?? "").contains("version 2"))
        let meta = try ServerHarness.json(try await h.request(.get, "/v2/models/digits"))
        XCTAssertEqual(meta["versions"] as? [String], ["1"])
        let ok = Self.jsonRequest(Self.randomRows(1, seed: 1), rows: 1)
        let r = try await h.post("/v2/models/digits/infer", json: ok)
        XCTAssertEqual(try ServerHarness.json(r)["model_version"] as? String, "1")

        let v5 = try await h.request(.post, "/v2/repository/models/digits/unload").status
        XCTAssertEqual(v5, .ok)
        let v6 = try await h.request(.get, "/v2/models/digits/ready").status
        XCTAssertNotEqual(v6, .ok)
        let v7 = try await h.post("/v2/models/digits/infer", json: ok).status
        XCTAssertEqual(v7, .serviceUnavailable)
        await h.stop()
    }

    /// `GET /metrics` lines of the form `name{labels} value`, as `name{labels}` → value.
    static func metricSamples(_ h: ServerHarness) async throws -> [String: Double] {
        let r = try await h.request(.get, "/metrics")
        let text = String(buffer: r.body ?? ByteBuffer())
        var out: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let v = Double(line[line.index(after: space)...]) else { continue }
            out[String(line[..<space])] = v
        }
        return out
    }

    static func hasSeries(_ samples: [String: Double], model: String, version: String) -> Bool {
        samples.keys.contains { $0.contains(#"model="\#(model)",version="\#(version)""#) }
    }

    func testMetricsContentTypeAndIdlePendingGauge() async throws {
        let h = try await ServerHarness.start(root: try ServerHarness.makeRepository(models: ["digits": [1]]))
        let ok = Self.jsonRequest(Self.randomRows(1, seed: 1), rows: 1)
        for _ in 0..<50 {
            let status = try await h.post("/v2/models/digits/infer", json: ok).status
            XCTAssertEqual(status, .ok)
        }
        let r = try await h.request(.get, "/metrics")
        XCTAssertEqual(r.status, .ok)
        XCTAssertEqual(r.headers[.contentType], "text/plain; version=0.0.4; charset=utf-8")
        XCTAssertEqual(r.headers[.contentType], ServerMetrics.contentType)
        let s = try await Self.metricSamples(h)
        XCTAssertEqual(s[#"berth_inference_requests_total{model="digits",version="1",outcome="success",reason=""}"#], 50)
        XCTAssertEqual(s[#"berth_inference_pending_requests{model="digits",version="1"}"#], 0, "no request waits")
        await h.stop()
    }

    func testUnloadRemovesMetricSeries() async throws {
        let root = try ServerHarness.makeRepository(models: ["digits": [1]])
        let h = try await ServerHarness.start(root: root, control: .explicit, startupModels: ["digits"])
        let ok = Self.jsonRequest(Self.randomRows(1, seed: 1), rows: 1)
        let status = try await h.post("/v2/models/digits/infer", json: ok).status
        XCTAssertEqual(status, .ok)
        let before = try await Self.metricSamples(h)
        XCTAssertTrue(Self.hasSeries(before, model: "digits", version: "1"))
        let unload = try await h.request(.post, "/v2/repository/models/digits/unload").status
        XCTAssertEqual(unload, .ok)
        let after = try await Self.metricSamples(h)
        XCTAssertFalse(Self.hasSeries(after, model: "digits", version: "1"), "an unloaded version reports no series")
        // Loading again starts fresh series.
        let load = try await h.request(.post, "/v2/repository/models/digits/load").status
        XCTAssertEqual(load, .ok)
        _ = try await h.post("/v2/models/digits/infer", json: ok)
        let again = try await Self.metricSamples(h)
        XCTAssertEqual(again[#"berth_inference_requests_total{model="digits",version="1",outcome="success",reason=""}"#], 1)
        await h.stop()
    }

    func testPollRemovesMetricSeriesOfReplacedAndRemovedVersions() async throws {
        let root = try ServerHarness.makeRepository(models: ["digits": [1]])
        let h = try await ServerHarness.start(root: root, control: .poll, pollInterval: .milliseconds(100))
        let ok = Self.jsonRequest(Self.randomRows(1, seed: 1), rows: 1)
        func version() async throws -> String? {
            try ServerHarness.json(try await h.post("/v2/models/digits/infer", json: ok))["model_version"] as? String
        }
        let v1 = try await version()
        XCTAssertEqual(v1, "1")
        // The version policy (latest 1) replaces version 1 by version 2.
        try ServerHarness.addVersion(root: root, model: "digits", version: 2)
        let switched = try await ServerHarness.eventually { try await version() == "2" }
        XCTAssertTrue(switched)
        let replaced = try await ServerHarness.eventually {
            !Self.hasSeries(try await Self.metricSamples(h), model: "digits", version: "1")
        }
        XCTAssertTrue(replaced, "version 1's series go when the policy unloads it")
        let current = try await Self.metricSamples(h)
        XCTAssertTrue(Self.hasSeries(current, model: "digits", version: "2"))
        // Removing the model from the repository unloads it and its series.
        try FileManager.default.removeItem(at: root.appendingPathComponent("digits"))
        let removed = try await ServerHarness.eventually {
            !Self.hasSeries(try await Self.metricSamples(h), model: "digits", version: "2")
        }
        XCTAssertTrue(removed, "a model removed from the repository reports no series")
        await h.stop()
    }

    func testUnloadWaitsForRequestsInFlight() async throws {
        // A slow model (large batch) keeps requests in flight while it is unloaded: each of them
        // completes, and only later requests see the model gone.
        let root = try ServerHarness.makeRepository(models: ["digits": [1]])
        let h = try await ServerHarness.start(root: root, control: .explicit, startupModels: ["digits"])
        let big = Self.jsonRequest(Self.randomRows(512, seed: 5), rows: 512)
        let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
            for _ in 0..<8 { group.addTask { try await h.post("/v2/models/digits/infer", json: big).status } }
            try await Task.sleep(for: .milliseconds(20))
            let unload = try await h.request(.post, "/v2/repository/models/digits/unload").status
            XCTAssertEqual(unload, .ok)
            var out: [HTTPResponse.Status] = []
            for try await s in group { out.append(s) }
            return out
        }
        // A request either finished on the loaded model or arrived after the unload: never a 500
        // or a dropped connection.
        for s in statuses { XCTAssertTrue(s == .ok || s == .serviceUnavailable, "\(s)") }
        let s = try await Self.metricSamples(h)
        XCTAssertFalse(Self.hasSeries(s, model: "digits", version: "1"))
        await h.stop()
    }

    func testPollLoadsNewVersionsAndUnloadsRemovedOnes() async throws {
        let root = try ServerHarness.makeRepository(models: ["digits": [1]])
        let h = try await ServerHarness.start(root: root, control: .poll, pollInterval: .milliseconds(100))
        func versions() async throws -> [String] {
            (try ServerHarness.json(try await h.request(.get, "/v2/models/digits"))["versions"] as? [String]) ?? []
        }
        let v8 = try await versions()
        XCTAssertEqual(v8, ["1"])
        try ServerHarness.addVersion(root: root, model: "digits", version: 2)
        let loaded = try await ServerHarness.eventually { try await versions() == ["2"] }
        XCTAssertTrue(loaded, "version 2 replaces version 1 (latest 1)")
        try FileManager.default.removeItem(at: root.appendingPathComponent("digits/2"))
        let back = try await ServerHarness.eventually { try await versions() == ["1"] }
        XCTAssertTrue(back, "removing version 2 brings version 1 back")
        // A broken new version never replaces a working one.
        try ServerHarness.addVersion(root: root, model: "digits", version: 3, contents: Data("garbage".utf8))
        try await Task.sleep(for: .milliseconds(600))
        let v9 = try await versions()
        XCTAssertEqual(v9, ["1"])
        await h.stop()
    }
}
