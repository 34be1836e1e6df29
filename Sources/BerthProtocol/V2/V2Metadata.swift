/// `GET /v2`: the server's name, version and protocol extensions.
public struct V2ServerMetadata: Codable, Sendable, Equatable {
    /// The server's name.
    public var name: String
    /// The server's version.
    public var version: String
    /// The protocol extensions the server supports.
    public var extensions: [String]
    /// Set when the server runs without authentication (Berth's addition; clients ignore it).
    public var warning: String? = nil

    /// Metadata from its parts.
    public init(name: String, version: String, extensions: [String]) {
        self.name = name
        self.version = version
        self.extensions = extensions
    }
}

/// One tensor of a model's metadata.
public struct V2TensorMetadata: Codable, Sendable, Equatable {
    /// The tensor's name.
    public var name: String
    /// Its V2 datatype name (`FP32`, `BYTES` ...).
    public var datatype: String
    /// Its shape, `-1` for a dynamic dimension; absent when a server does not say.
    public var shape: [Int]?

    /// Metadata from its parts.
    public init(name: String, datatype: String, shape: [Int]?) {
        self.name = name
        self.datatype = datatype
        self.shape = shape
    }

    /// The metadata of a model's declared tensor (FP32 when the model leaves the type open).
    public init(_ spec: TensorSpec) {
        self.init(name: spec.name, datatype: spec.dtype?.v2Name ?? "FP32", shape: spec.metadataShape)
    }
}

/// `GET /v2/models/{name}[/versions/{v}]`: the model's versions, platform, inputs and outputs.
public struct V2ModelMetadata: Codable, Sendable, Equatable {
    /// The model's name.
    public var name: String
    /// The versions served (as strings, per the protocol).
    public var versions: [String]?
    /// The platform, e.g. `onnxruntime_onnx`.
    public var platform: String?
    /// The inputs in model order.
    public var inputs: [V2TensorMetadata]?
    /// The outputs in model order.
    public var outputs: [V2TensorMetadata]?

    /// Metadata from its parts.
    public init(name: String, versions: [String]?, platform: String?, inputs: [V2TensorMetadata]?,
                outputs: [V2TensorMetadata]?) {
        self.name = name
        self.versions = versions
        self.platform = platform
        self.inputs = inputs
        self.outputs = outputs
    }
}

/// Every error answer of the protocol: `{"error": "..."}`.
public struct V2ErrorBody: Codable, Sendable, Equatable {
    /// What went wrong.
    public var error: String

    /// An error body with its message.
    public init(error: String) { self.error = error }
}

/// `GET /v2/health/live`: `{"live": true}`.
public struct V2LiveResponse: Codable, Sendable, Equatable {
    /// Whether the server is live.
    public var live: Bool
    /// An answer.
    public init(live: Bool) { self.live = live }
}

/// `GET /v2/health/ready`: `{"ready": bool}` (200 when ready, 400 when not, as Triton answers).
public struct V2ReadyResponse: Codable, Sendable, Equatable {
    /// Whether the server is ready.
    public var ready: Bool
    /// An answer.
    public init(ready: Bool) { self.ready = ready }
}

/// `GET /v2/models/{name}[/versions/{v}]/ready`: `{"name": .., "ready": bool}`.
public struct V2ModelReadyResponse: Codable, Sendable, Equatable {
    /// The model's name.
    public var name: String
    /// Whether that model (version) is ready.
    public var ready: Bool
    /// An answer.
    public init(name: String, ready: Bool) {
        self.name = name
        self.ready = ready
    }
}
