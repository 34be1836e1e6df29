import BerthEngine
import BerthONNX
import BerthProtocol
@testable import BerthServer
import BerthTensor
import Foundation
import Hummingbird
import Logging
import XCTest

/// V2 request decoding and response encoding for every datatype, without HTTP: an Identity model
/// per datatype, JSON and binary inputs, JSON and binary outputs.
final class InferenceCodingTests: XCTestCase {
    static let types: [(String, DType)] = [
        ("b", .bool), ("h", .float16), ("s", .string), ("i8", .int8), ("u8", .uint8), ("i16", .int16), ("u16", .uint16),
        ("i32", .int32), ("u32", .uint32), ("i64", .int64), ("u64", .uint64), ("f", .float32), ("d", .float64),
    ]

    func makeServable() throws -> Servable {
        let dims: [Dim] = [.symbolic("N"), .fixed(2)]
        let graph = Graph(
            name: "types",
            nodes: Self.types.map { Node(name: "id_\($0.0)", opType: "Identity", inputs: [$0.0], outputs: ["out_\($0.0)"]) },
            initializers: [:],
            inputs: Self.types.map { ValueInfo(name: $0.0, dtype: $0.1, shape: dims) },
            outputs: Self.types.map { ValueInfo(name: "out_\($0.0)", dtype: $0.1, shape: dims) })
        let session = try Session(model: Model(irVersion: 8, opsetImports: ["": 17], graph: graph),
                                  options: SessionOptions(intraOpThreads: 1, optimize: false))
        return Servable(model: "types", version: 1, session: session, config: ModelConfig(), fingerprint: "",
                        metrics: ServerMetrics(), logger: Logger(label: "test"))
    }

    static let jsonData: [String: String] = [
        "b": "[[true,false]]", "h": "[0.5,-2]", "s": "[\"héllo\",\"a\\\"b\\n\"]", "i8": "[-128,127]", "u8": "[0,255]",
        "i16": "[-3,4]", "u16": "[65535,1]", "i32": "[-2147483648,7]", "u32": "[4294967295,0]",
        "i64": "[-9223372036854775808,9223372036854775807]", "u64": "[18446744073709551615,3]",
        "f": "[[1.5e-3,-0.10000000149011612]]", "d": "[0.1,1e300]",
    ]

    func decode(_ json: String, servable: Servable, binary: [UInt8] = []) throws -> V2InferenceRequest {
        var body = ByteBuffer(string: json)
        body.writeBytes(binary)
        return try V2InferenceRequest(body: body, headerLength: binary.isEmpty ? nil : json.utf8.count, model: servable.interface)
    }

    func respond(_ req: V2InferenceRequest, _ servable: Servable, _ results: [String: Tensor]) -> V2InferenceResponse {
        V2InferenceResponse(request: req, modelName: servable.model, modelVersion: servable.versionString,
                            outputOrder: servable.interface.outputs.map(\.name), results: results)
    }

    func testEveryDatatypeRoundTripsThroughJSON() async throws {
        let servable = try makeServable()
        let inputs = Self.types.map { name, dtype in
            "{\"name\":\"\(name)\",\"datatype\":\"\(dtype.v2Name)\",\"shape\":[1,2],\"data\":\(Self.jsonData[name]!)}"
        }
        let req = try decode("{\"id\":\"x\",\"inputs\":[\(inputs.joined(separator: ","))]}", servable: servable)
        XCTAssertEqual(try req.feeds["i64"]!.values(Int64.self), [.min, .max])
        XCTAssertEqual(try req.feeds["u64"]!.values(UInt64.self), [.max, 3])
        XCTAssertEqual(try req.feeds["s"]!.values(String.self), ["héllo", "a\"b\n"])
        XCTAssertEqual(try req.feeds["f"]!.values(Float.self), [1.5e-3, -0.1])
        XCTAssertEqual(try req.feeds["d"]!.values(Double.self), [0.1, 1e300])
        XCTAssertEqual(try req.feeds["h"]!.values(Float16.self), [0.5, -2])
        XCTAssertEqual(try req.feeds["b"]!.values(Bool.self), [true, false])
        let result = try await servable.batcher.submit(req.feeds)
        let (body, jsonLength) = respond(req, servable, result.outputs).encode()
        XCTAssertNil(jsonLength)
        let obj = try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as! [String: Any]
        XCTAssertEqual(obj["id"] as? String, "x")
        let outs = Dictionary(uniqueKeysWithValues: (obj["outputs"] as! [[String: Any]]).map { ($0["name"] as! String, $0) })
        XCTAssertEqual(outs["out_s"]?["data"] as? [String], ["héllo", "a\"b\n"])
        XCTAssertEqual(outs["out_b"]?["data"] as? [Bool], [true, false])
        XCTAssertEqual(outs["out_i8"]?["datatype"] as? String, "INT8")
        XCTAssertEqual((outs["out_i64"]?["data"] as? [NSNumber])?.map(\.int64Value), [.min, .max])
        XCTAssertEqual((outs["out_f"]?["data"] as? [NSNumber])?.map(\.floatValue), [1.5e-3, -0.1])
        XCTAssertEqual(outs["out_h"]?["shape"] as? [Int], [1, 2])
        await servable.batcher.shutdown()
    }

    func testEveryDatatypeRoundTripsThroughBinary() async throws {
        let servable = try makeServable()
        var blob: [UInt8] = []
        var inputs: [String] = []
        var expected: [String: [UInt8]] = [:]
        for (name, dtype) in Self.types {
            var bytes: [UInt8]
            if dtype == .string {
                bytes = []
                for s in ["ab", ""] { bytes += withUnsafeBytes(of: UInt32(s.utf8.count).littleEndian, Array.init) + Array(s.utf8) }
            } else if dtype == .bool {
                bytes = [1, 0]
            } else {
                bytes = (0..<(2 * dtype.byteSize)).map { UInt8(truncatingIfNeeded: $0 * 7 + 1) }
                if dtype == .float16 { bytes = [0x00, 0x3C, 0x00, 0xC0] }  // 1.0, -2.0
            }
            expected[name] = bytes
            blob += bytes
            inputs.append("{\"name\":\"\(name)\",\"datatype\":\"\(dtype.v2Name)\",\"shape\":[1,2],\"parameters\":{\"binary_data_size\":\(bytes.count)}}")
        }
        let json = "{\"inputs\":[\(inputs.joined(separator: ","))],\"parameters\":{\"binary_data_output\":true}}"
        let req = try decode(json, servable: servable, binary: blob)
        let result = try await servable.batcher.submit(req.feeds)
        var (body, jsonLength) = respond(req, servable, result.outputs).encode()
        let n = try XCTUnwrap(jsonLength)
        let obj = try JSONSerialization.jsonObject(with: Data(body.readBytes(length: n)!)) as! [String: Any]
        for out in obj["outputs"] as! [[String: Any]] {
            let name = String((out["name"] as! String).dropFirst(4))
            let size = (out["parameters"] as! [String: Any])["binary_data_size"] as! Int
            XCTAssertEqual(body.readBytes(length: size), expected[name], name)
        }
        XCTAssertEqual(body.readableBytes, 0)
        await servable.batcher.shutdown()
    }

    func testBadInputsNameTheProblem() throws {
        let dims: [Dim] = [.symbolic("N"), .fixed(2)]
        let graph = Graph(name: "f", nodes: [Node(name: "id", opType: "Identity", inputs: ["x"], outputs: ["y"])], initializers: [:],
                          inputs: [ValueInfo(name: "x", dtype: .int8, shape: dims)], outputs: [ValueInfo(name: "y", dtype: .int8, shape: dims)])
        let session = try Session(model: Model(irVersion: 8, opsetImports: ["": 17], graph: graph),
                                  options: SessionOptions(intraOpThreads: 1, optimize: false))
        let s = Servable(model: "f", version: 1, session: session, config: ModelConfig(maxBatchSize: 0), fingerprint: "",
                         metrics: ServerMetrics(), logger: Logger(label: "test"))
        func message(_ json: String, binary: [UInt8] = []) -> String {
            do { _ = try decode(json, servable: s, binary: binary); return "" } catch { return "\(error)" }
        }
        let base = "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"INT8\",\"shape\":[1,2],\"data\":DATA}]}"
        XCTAssertTrue(message(base.replacingOccurrences(of: "DATA", with: "[1,300]")).contains("out of range for INT8"))
        XCTAssertTrue(message(base.replacingOccurrences(of: "DATA", with: "[1,1.5]")).contains("not a valid INT8"))
        XCTAssertTrue(message(base.replacingOccurrences(of: "DATA", with: "[1,\"a\"]")).contains("a string"))
        XCTAssertTrue(message(base.replacingOccurrences(of: "DATA", with: "[1,2,3]")).contains("needs 2 elements"))
        XCTAssertTrue(message(base.replacingOccurrences(of: "DATA", with: "[1,2")).contains("malformed JSON"))
        XCTAssertTrue(message(String(repeating: "[", count: 10_000)).contains("nesting"))
        let bin = "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"INT8\",\"shape\":[1,2],\"parameters\":{\"binary_data_size\":3}}]}"
        XCTAssertTrue(message(bin, binary: [1, 2, 3]).contains("needs 2 bytes"))
        XCTAssertTrue(message(bin, binary: [1]).contains("exceeds"))
        // Random garbage never crashes the decoder.
        var rng = SystemRandomNumberGenerator()
        let valid = Array(base.replacingOccurrences(of: "DATA", with: "[[1,2]]").utf8)
        for _ in 0..<2000 {
            var bytes = valid
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let i = Int.random(in: 0..<bytes.count, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: bytes[i] = UInt8.random(in: 0...255, using: &rng)
                case 1: bytes.remove(at: i)
                default: bytes.insert(UInt8.random(in: 0...127, using: &rng), at: i)
                }
                if bytes.isEmpty { bytes = [0x7B] }
            }
            _ = message(String(decoding: bytes, as: UTF8.self))
        }
        Task { await s.batcher.shutdown() }
    }

    func testFullQueueRefusesWith503() async throws {
        let session = try Session(contentsOf: ServerHarness.digitsModel, options: SessionOptions(intraOpThreads: 1))
        let config = ModelConfig(maxBatchSize: 0, dynamicBatching: .init(maxQueueSize: 2))
        let s = Servable(model: "digits", version: 1, session: session, config: config, fingerprint: "",
                         metrics: ServerMetrics(), logger: Logger(label: "test"))
        let feeds = try session.sampleInputs(batch: 1)
        let outcomes = await withTaskGroup(of: String.self) { group in
            for _ in 0..<200 {
                group.addTask {
                    do { _ = try await s.batcher.submit(feeds); return "ok" } catch let e as ServerError {
                        return e.status == .serviceUnavailable && e.description.contains("queue full") ? "full" : "other"
                    } catch { return "other" }
                }
            }
            var all: [String] = []
            for await o in group { all.append(o) }
            return all
        }
        XCTAssertFalse(outcomes.contains("other"))
        XCTAssertTrue(outcomes.contains("ok"))
        XCTAssertTrue(outcomes.contains("full"), "a queue of 2 cannot hold 200 simultaneous requests")
        await s.batcher.shutdown()
    }
}
