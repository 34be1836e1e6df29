import BerthTensor

/// An Open Inference Protocol inference request: named input tensors, the outputs asked for and
/// their encoding. Decoded by the server from JSON (and Triton's binary extension), already checked
/// against the model; encoded by clients such as `berth bench`.
public struct V2InferenceRequest: Sendable {
    /// One named input tensor.
    public struct Input: Sendable {
        /// The input's name.
        public var name: String
        /// Its value.
        public var tensor: Tensor

        /// An input from its parts.
        public init(name: String, tensor: Tensor) {
            self.name = name
            self.tensor = tensor
        }
    }

    /// An output the client asked for.
    public struct RequestedOutput: Sendable, Equatable {
        /// The output's name.
        public var name: String
        /// The `binary_data` parameter; nil when absent (the request-level default applies).
        public var binary: Bool?
        /// The classification extension's `classification` parameter (tritonclient's
        /// `class_count`): answer the top N classes as "score:index[:label]" strings; nil: off.
        public var classCount: Int?

        /// A requested output from its parts.
        public init(name: String, binary: Bool? = nil, classCount: Int? = nil) {
            self.name = name
            self.binary = binary
            self.classCount = classCount
        }
    }

    /// The request `id`, echoed in the response.
    public var id: String?
    /// The inputs in request order.
    public var inputs: [Input]
    /// The requested outputs in request order; nil means every output.
    public var outputs: [RequestedOutput]?
    /// The request-level `binary_data_output` parameter.
    public var binaryDataOutput: Bool
    /// The request-level `priority` parameter (Triton's priority levels; 0 or nil: the model's default).
    public var priority: Int?
    /// Rows the request carries: ``ModelInterface/rows(of:)`` when decoded against a model; built
    /// by a client, dim 0 of its first input unless given.
    public var rows: Int

    /// A request from its parts.
    public init(id: String? = nil, inputs: [Input], outputs: [RequestedOutput]? = nil, binaryDataOutput: Bool = false,
                rows: Int? = nil) {
        self.id = id
        self.inputs = inputs
        self.outputs = outputs
        self.binaryDataOutput = binaryDataOutput
        self.rows = rows ?? inputs.first.flatMap { $0.tensor.shape.first } ?? 1
    }

    /// The inputs by name, as `Session.run` takes them.
    public var feeds: [String: Tensor] {
        var d: [String: Tensor] = [:]
        d.reserveCapacity(inputs.count)
        for i in inputs { d[i.name] = i.tensor }
        return d
    }

    /// The HTTP header that carries the JSON part's length when binary tensors follow it.
    public static let headerLengthField = "Inference-Header-Content-Length"
}
