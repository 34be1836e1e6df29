import BerthProtocol
import Foundation
import GRPCCore
import SwiftProtobuf

/// Triton's RPCs beyond the Open Inference Protocol's: the model configuration and the
/// bidirectional inference stream tritonclient's `start_stream` / `async_stream_infer` use.
extension InferenceGRPCService {
    /// `ModelConfig`: the configuration `GET /v2/models/{name}/config` answers, as the
    /// `model_config.proto` message (the REST JSON is that message's JSON mapping).
    func modelConfig(request: ServerRequest<Inference_ModelConfigRequest>,
                     context: ServerContext) async throws -> ServerResponse<Inference_ModelConfigResponse> {
        try await answer {
            let m = request.message
            _ = try await authorize(request.metadata, .read, model: m.name)
            let json = try CodableJSON.encoder.encode(manager.tritonConfig(model: m.name, version: m.version.isEmpty ? nil : m.version))
            var options = JSONDecodingOptions()
            options.ignoreUnknownFields = true
            let config = try Inference_ModelConfig(jsonUTF8Bytes: json, options: options)
            return .with { $0.config = config }
        }
    }

    /// `ModelStreamInfer`: each request on the stream is one `ModelInfer` (same auth, routing,
    /// batching and metrics), answered in order on the same stream. A failed request answers
    /// with `error_message` and the stream goes on, as Triton's does.
    func modelStreamInfer(request: StreamingServerRequest<Inference_ModelInferRequest>,
                          context: ServerContext) async throws -> StreamingServerResponse<Inference_ModelStreamInferResponse> {
        let metadata = request.metadata
        return StreamingServerResponse { writer in
            for try await message in request.messages {
                do {
                    let one = try await self.modelInfer(request: ServerRequest(metadata: metadata, message: message), context: context)
                    let answer = try one.message
                    try await writer.write(.with { $0.inferResponse = answer })
                } catch let e as RPCError {
                    try await writer.write(.with {
                        $0.errorMessage = e.message
                        $0.inferResponse = .with { $0.modelName = message.modelName; $0.id = message.id }
                    })
                }
            }
            return [:]
        }
    }
}
