import BerthProtocol
import BerthTensor
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix

/// A small Open Inference Protocol client over gRPC (plaintext HTTP/2): what `berth bench
/// --protocol grpc` sends. Inputs travel as `raw_input_contents`, as tritonclient sends them.
/// The generated stubs stay internal to the server module; this is the one public door to them.
public final class InferenceGRPCClient: Sendable {
    private let client: GRPCClient<HTTP2ClientTransport.Posix>
    private let stub: Inference_GRPCInferenceService.Client<HTTP2ClientTransport.Posix>
    private let metadata: Metadata
    private let options: CallOptions
    private let connections: Task<Void, Never>

    /// Connects (lazily, on the first call) to `host`:`port`; `authorization` is sent as the
    /// `authorization` metadata of every call, as the server's auth hook reads it.
    public init(host: String, port: Int, authorization: String?, maxMessageBytes: Int = 256 << 20) throws {
        // Flushed at once, not coalesced for up to 100 µs: a benchmark client measures latency.
        let transport = try HTTP2ClientTransport.Posix(target: .dns(host: host, port: port), transportSecurity: .plaintext,
                                                       config: .defaults { $0.connection.flushCoalescing = nil })
        let client = GRPCClient(transport: transport)
        self.client = client
        stub = Inference_GRPCInferenceService.Client(wrapping: client)
        var m = Metadata()
        if let authorization { m.addString(authorization, forKey: "authorization") }
        metadata = m
        var o = CallOptions.defaults
        o.maxResponseMessageBytes = maxMessageBytes
        o.maxRequestMessageBytes = maxMessageBytes
        options = o
        connections = Task { try? await client.runConnections() }
    }

    /// Stops the connections once the calls in flight finish.
    public func close() async {
        client.beginGracefulShutdown()
        await connections.value
    }

    /// `ModelMetadata`, as the REST route's JSON would read.
    public func modelMetadata(name: String, version: String?) async throws -> V2ModelMetadata {
        let request = Inference_ModelMetadataRequest.with {
            $0.name = name
            $0.version = version ?? ""
        }
        let r: Inference_ModelMetadataResponse
        do {
            r = try await stub.modelMetadata(request: ClientRequest(message: request, metadata: metadata), options: options) {
                try $0.message
            }
        } catch let error as RPCError {
            throw CallError(code: String(describing: error.code), message: error.message)
        }
        func tensors(_ list: [Inference_ModelMetadataResponse.TensorMetadata]) -> [V2TensorMetadata] {
            list.map { V2TensorMetadata(name: $0.name, datatype: $0.datatype, shape: $0.shape.map { Int($0) }) }
        }
        return V2ModelMetadata(name: r.name, versions: r.versions, platform: r.platform.isEmpty ? nil : r.platform,
                               inputs: tensors(r.inputs), outputs: tensors(r.outputs))
    }

    /// A `ModelInfer` request for `tensors`, built once and sent many times.
    public struct PreparedInfer: Sendable {
        let message: Inference_ModelInferRequest
        /// Bytes of the encoded protobuf message.
        public let byteCount: Int
    }

    /// Encodes an inference request for `model` with every input's data in `raw_input_contents`.
    public static func prepare(model: String, version: String?, inputs: [(name: String, tensor: Tensor)]) -> PreparedInfer {
        let message = Inference_ModelInferRequest.with { m in
            m.modelName = model
            m.modelVersion = version ?? ""
            m.inputs = inputs.map { item in
                .with {
                    $0.name = item.name
                    $0.datatype = item.tensor.dtype.v2Name
                    $0.shape = item.tensor.shape.map(Int64.init)
                }
            }
            m.rawInputContents = inputs.map { BinaryTensorCodec.data($0.tensor.storage) }
        }
        return PreparedInfer(message: message, byteCount: (try? message.serializedBytes() as [UInt8])?.count ?? 0)
    }

    /// Sends one prepared request; returns the number of outputs answered. A gRPC error status
    /// is thrown as ``InferenceGRPCClient/CallError`` with its code and message.
    @discardableResult
    public func infer(_ prepared: PreparedInfer) async throws -> Int {
        do {
            return try await stub.modelInfer(request: ClientRequest(message: prepared.message, metadata: metadata), options: options) {
                try $0.message.outputs.count
            }
        } catch let error as RPCError {
            throw CallError(code: String(describing: error.code), message: error.message)
        }
    }

    /// A call the server answered with a non-OK status.
    public struct CallError: Error, CustomStringConvertible {
        /// The status code's name, e.g. `invalidArgument`.
        public let code: String
        /// The server's message.
        public let message: String
        public var description: String { "gRPC \(code): \(message)" }
    }
}
