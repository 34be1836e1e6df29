import BerthProtocol
import BerthRegistry
import Foundation
import Hummingbird

/// `POST /v1/embeddings` over the ONNX models the ``ModelManager`` serves (repository, registry
/// with its production / canary split, `name@N` for a version): BERT-family encoders with
/// `input_ids`, `attention_mask` and optional `token_type_ids`, mean-pooled over the mask.
/// Quotas count input tokens as rows; errors take OpenAI's shape.
struct EmbeddingRoutes: Sendable {
    let manager: ModelManager
    let configuration: ServerConfiguration
    var observers: [any InferenceObserver] = []
    /// Tokenizers by servable fingerprint (a new version, a new entry).
    private let models = Locked<[String: EmbeddingModel]>([:])
    /// Most inputs in one request (OpenAI's limit).
    static let maxInputs = 2048

    init(manager: ModelManager, configuration: ServerConfiguration, observers: [any InferenceObserver] = []) {
        self.manager = manager
        self.configuration = configuration
        self.observers = observers
    }

    func register(on router: Router<BerthRequestContext>) {
        router.post("/v1/embeddings") { req, ctx in
            do { return try await embeddings(req, ctx) } catch { return OpenAIError.from(error).response }
        }
    }

    private func embeddings(_ req: Request, _ ctx: BerthRequestContext) async throws -> Response {
        let buffer = try await ResponseFactory.collect(req, limit: configuration.maxBodySize, timeout: configuration.bodyTimeout)
        guard buffer.readableBytes > 0 else { throw OpenAIError.badRequest("the request body is empty") }
        let body = try JSONBody.decode(EmbeddingRequest.self, from: Data(buffer: buffer), what: "the body")
        let format = body.encodingFormat ?? "float"
        guard format == "float" || format == "base64" else { throw OpenAIError.badRequest("encoding_format must be float or base64", param: "encoding_format") }
        if body.dimensions != nil { throw OpenAIError.badRequest("dimensions is not supported: the model decides the size", param: "dimensions") }
        let (name, ref) = VersionRef.parse(body.model)
        guard ctx.maySee(name) else { throw OpenAIError.modelNotFound(body.model) }
        let servable: Servable
        do {
            switch ref {
            case nil:
                let routed = try manager.acquireRouted(model: name, key: req.headers[V2Routes.routingKeyField])
                routed.shadow?.release()  // embeddings are not mirrored
                servable = routed.servable
            case let .number(v)?: servable = try manager.acquire(model: name, version: String(v))
            case .alias?: throw OpenAIError.badRequest("address a version by number (\(name)@N)", param: "model")
            }
        } catch let e as ServerError {
            if case .modelNotFound = e { throw OpenAIError.modelNotFound(body.model) }
            throw e
        }
        defer { servable.release() }
        let model = try embeddingModel(servable)
        let batch: [[Int]]
        switch body.input {
        case let .texts(t):
            guard t.allSatisfy({ !$0.isEmpty }) else { throw OpenAIError.badRequest("an input string is empty", param: "input") }
            batch = t.map { model.tokenizer.encode($0) }
        case let .tokens(t):
            guard t.allSatisfy({ $0.count <= model.tokenizer.maxLength && $0.allSatisfy { $0 >= 0 && $0 < model.tokenizer.vocab.count } }) else {
                throw OpenAIError.badRequest("token ids must be in 0..<\(model.tokenizer.vocab.count), at most \(model.tokenizer.maxLength) per input", param: "input")
            }
            batch = t
        }
        guard !batch.isEmpty, batch.count <= Self.maxInputs else { throw OpenAIError.badRequest("give 1 to \(Self.maxInputs) inputs", param: "input") }
        guard batch.allSatisfy({ !$0.isEmpty }) else { throw OpenAIError.badRequest("an input is empty", param: "input") }
        let tokens = batch.reduce(0) { $0 + $1.count }
        let admission = try LLMAdmission(observers: observers, model: name, version: servable.version, caller: ctx.principal, promptTokens: tokens)
        let session = servable.session, normalize = body.normalize ?? true
        let vectors: [[Float]]
        do { vectors = try await blocking { try model.embed(batch, session: session, normalize: normalize) } } catch {
            admission.finish(error: error)
            throw error
        }
        admission.finish(tokens: tokens)
        let items = vectors.enumerated().map { i, v in
            EmbeddingItem(index: i, embedding: format == "base64" ? .base64(Self.base64(v)) : .floats(v))
        }
        return try Response.json(EmbeddingResponse(data: items, model: body.model, usage: .init(promptTokens: tokens)))
    }

    /// The servable's encoder description, read once per loaded version.
    private func embeddingModel(_ s: Servable) throws -> EmbeddingModel {
        if let m = models.withLock({ $0[s.fingerprint] }) { return m }
        let beside = manager.repository.map {
            $0.modelFile(model: s.model, version: s.version).deletingLastPathComponent().appendingPathComponent("tokenizer.json")
        }
        let m = try EmbeddingModel(session: s.session, besideFile: beside)
        models.withLock { $0[s.fingerprint] = m }
        return m
    }

    /// Little-endian float32 bytes in base64, as OpenAI sends them.
    static func base64(_ v: [Float]) -> String {
        var bytes = [UInt8]()
        bytes.reserveCapacity(v.count * 4)
        for f in v { withUnsafeBytes(of: f.bitPattern.littleEndian) { bytes += $0 } }
        return Data(bytes).base64EncodedString()
    }
}
