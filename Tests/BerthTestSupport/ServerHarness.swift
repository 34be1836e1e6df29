import BerthServer
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import XCTest

/// Starts the real server on 127.0.0.1 with a free port over a temporary repository, and stops it.
public final class ServerHarness: @unchecked Sendable {
    /// The repository's root folder.
    public static var repoRoot: URL { TestModels.repoRoot }
    /// The bundled digits MLP.
    public static var digitsModel: URL { TestModels.digitsModel }

    /// The model repository served.
    public let root: URL
    /// The bound port.
    public let port: Int
    /// The server's model manager.
    public let manager: ModelManager
    private let task: Task<Void, Error>

    private init(root: URL, port: Int, manager: ModelManager, task: Task<Void, Error>) {
        self.root = root
        self.port = port
        self.manager = manager
        self.task = task
    }

    /// A repository folder with `models` (name → versions of the digits model) and configs.
    public static func makeRepository(models: [String: [Int]], configs: [String: String] = [:]) throws -> URL {
        let fm = FileManager.default
        let root = fm.temporaryDirectory.appendingPathComponent("berth-test-\(UUID().uuidString)")
        for (name, versions) in models {
            for v in versions { try addVersion(root: root, model: name, version: v) }
        }
        for (name, json) in configs {
            try fm.createDirectory(at: root.appendingPathComponent(name), withIntermediateDirectories: true)
            try Data(json.utf8).write(to: root.appendingPathComponent(name).appendingPathComponent("config.json"))
        }
        try fm.createDirectory(at: root, withIntermediateDirectories: true)
        return root
    }

    public static func addVersion(root: URL, model: String, version: Int, contents: Data? = nil) throws {
        let dir = root.appendingPathComponent(model).appendingPathComponent(String(version))
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try (contents ?? Data(contentsOf: digitsModel)).write(to: dir.appendingPathComponent("model.onnx"))
    }

    public static func start(root: URL, control: ModelControl = .none, startupModels: [String] = [],
                      maxBodySize: Int = 1 << 20, pollInterval: Duration = .milliseconds(100)) async throws -> ServerHarness {
        var logger = Logger(label: "berth.test")
        logger.logLevel = .warning
        let manager = ModelManager(repository: ModelRepository(root: root), logger: logger)
        let server = BerthHTTPServer(
            manager: manager,
            configuration: ServerConfiguration(host: "127.0.0.1", port: 0, maxBodySize: maxBodySize, modelControl: control,
                                               pollInterval: pollInterval, startupModels: startupModels),
            logger: logger)
        let (ports, cont) = AsyncStream<Int>.makeStream()
        let app = try server.makeApplication { port in cont.yield(port) }
        let task = Task { try await app.run() }
        var it = ports.makeAsyncIterator()
        guard let port = await it.next() else {
            XCTFail("server did not start")
            throw CancellationError()
        }
        let h = ServerHarness(root: root, port: port, manager: manager, task: task)
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline {
            if (try? await h.request(.get, "/v2/health/ready"))?.status == .ok { return h }
            try await Task.sleep(for: .milliseconds(20))
        }
        XCTFail("server never became ready")
        return h
    }

    public func stop() async {
        task.cancel()
        _ = try? await task.value
        try? FileManager.default.removeItem(at: root)
    }

    public func request(_ method: HTTPRequest.Method, _ path: String, body: ByteBuffer? = nil,
                 headers: HTTPFields = [:]) async throws -> TestClient.Response {
        try await TestClient.withClient(host: "127.0.0.1", port: port) { client in
            try await client.execute(.init(path, method: method, authority: "127.0.0.1:\(self.port)", headers: headers, body: body))
        }
    }

    public func post(_ path: String, json: String) async throws -> TestClient.Response {
        try await request(.post, path, body: ByteBuffer(string: json))
    }

    /// The body parsed as a JSON object.
    public static func json(_ r: TestClient.Response) throws -> [String: Any] {
        let bytes = r.body.map { Array($0.readableBytesView) } ?? []
        guard let o = try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else {
            XCTFail("body is not a JSON object: \(String(decoding: bytes, as: UTF8.self))")
            return [:]
        }
        return o
    }

    /// Waits until `condition` holds (polling), failing after `seconds`.
    public static func eventually(_ seconds: Double = 30, _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if (try? await condition()) == true { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return false
    }
}
