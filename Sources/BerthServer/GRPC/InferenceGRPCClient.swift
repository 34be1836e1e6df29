import BerthProtocol
import BerthTensor
import Foundation
import GRPCCore
import GRPCProtobuf
import NIOCore
import NIOHPACK
import SwiftProtobuf

/// A small Open Inference Protocol client over gRPC (plaintext HTTP/2): what `berth bench
/// --protocol grpc` sends. Inputs travel as `raw_input_contents`, as tritonclient sends them.
/// The generated stubs stay internal to the server module; this is the one public door to them.
/// Calls go through ``FastGRPCClient`` (one connection, streams handled on its channel): a
/// prepared request is serialized once and the same framed bytes are sent by every call.
public final class InferenceGRPCClient: Sendable {
    private let connection: FastGRPCClient
    private let inferHeaders: HPACKHeaders
    private let metadataHeaders: HPACKHeaders
    private let maxMessageBytes: Int

    /// Connects (lazily, on the first call) to `host`:`port`; `authorization` is sent as the
    /// `authorization` metadata of every call, as the server's auth hook reads it. Requests and
    /// responses larger than `maxMessageBytes` fail as `resourceExhausted`; a call not answered within
    /// `timeoutSeconds` (if given) fails as `deadlineExceeded`.
    public init(host: String, port: Int, authorization: String?, maxMessageBytes: Int = 256 << 20, timeoutSeconds: Double? = nil) throws {
        connection = FastGRPCClient(host: host, port: port, timeout: timeoutSeconds.map { .nanoseconds(Int64($0 * 1e9)) })
        let metadata = authorization.map { [(key: "authorization", value: $0)] } ?? []
        typealias Method = Inference_GRPCInferenceService.Method
        inferHeaders = connection.requestHeaders(path: "/" + Method.ModelInfer.descriptor.fullyQualifiedMethod, metadata: metadata)
        metadataHeaders = connection.requestHeaders(path: "/" + Method.ModelMetadata.descriptor.fullyQualifiedMethod, metadata: metadata)
        self.maxMessageBytes = maxMessageBytes
    }

    /// The executor of the connection's event loop. A task that prefers it (`executorPreference:`)
    /// sends and receives its calls on that thread: no hop to the loop and back per call.
    public var taskExecutor: any TaskExecutor { connection.executor }

    /// Stops the connection once the calls in flight finish.
    public func close() async {
        await connection.close()
    }

    /// One unary call: the framed request out, the response message decoded; errors as ``CallError``.
    private func call<Response: SwiftProtobuf.Message>(_ headers: HPACKHeaders, _ framedRequest: ByteBuffer,
                                                        as: Response.Type) async throws -> Response {
        do {
            guard framedRequest.readableBytes - 5 <= maxMessageBytes else {
                throw RPCError(code: .resourceExhausted, message: "The request message has \(framedRequest.readableBytes - 5) bytes, over the limit of \(maxMessageBytes).")
            }
            let bytes = try await connection.unary(headers: headers, framedRequest: framedRequest, maxResponseBytes: maxMessageBytes)
            return try ProtobufDeserializer<Response>().deserialize(FastGRPCBytes(bytes))
        } catch let error as RPCError {
            throw CallError(code: String(describing: error.code), message: error.message)
        }
    }

    /// `ModelMetadata`, as the REST route's JSON would read.
    public func modelMetadata(name: String, version: String?) async throws -> V2ModelMetadata {
        let request = Inference_ModelMetadataRequest.with {
            $0.name = name
            $0.version = version ?? ""
        }
        let r = try await call(metadataHeaders, FastGRPCClient.framed(try request.serializedBytes() as [UInt8]),
                               as: Inference_ModelMetadataResponse.self)
        func tensors(_ list: [Inference_ModelMetadataResponse.TensorMetadata]) -> [V2TensorMetadata] {
            list.map { V2TensorMetadata(name: $0.name, datatype: $0.datatype, shape: $0.shape.map { Int($0) }) }
        }
        return V2ModelMetadata(name: r.name, versions: r.versions, platform: r.platform.isEmpty ? nil : r.platform,
                               inputs: tensors(r.inputs), outputs: tensors(r.outputs))
    }

    /// A `ModelInfer` request for `tensors`, built once and sent many times.
    public struct PreparedInfer: Sendable {
        /// The encoded protobuf message behind gRPC's 5-byte prefix: what every call sends, unchanged.
        let framed: ByteBuffer
        /// Bytes of the encoded protobuf message.
        public var byteCount: Int { framed.readableBytes - 5 }
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
        // Serializing a message of set fields cannot fail; an empty one would still be answered with a status.
        let bytes = (try? message.serializedBytes() as [UInt8]) ?? []
        return PreparedInfer(framed: FastGRPCClient.framed(bytes))
    }

    /// Sends one prepared request; returns the number of outputs answered. A gRPC error status
    /// is thrown as ``InferenceGRPCClient/CallError`` with its code and message.
    @discardableResult
    public func infer(_ prepared: PreparedInfer) async throws -> Int {
        try await call(inferHeaders, prepared.framed, as: Inference_ModelInferResponse.self).outputs.count
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
