import BerthTensor

/// A computation graph: nodes in file order, constant initializers and the declared interface.
public struct Graph: Sendable {
    /// The graph name.
    public var name: String
    /// Nodes, in the order the file lists them (ONNX requires topological order; the engine re-sorts anyway).
    public var nodes: [Node]
    /// Constant tensors by value name.
    public var initializers: [String: Tensor]
    /// Declared graph inputs, without the ones that are initializers.
    public var inputs: [ValueInfo]
    /// Declared graph outputs.
    public var outputs: [ValueInfo]

    public init(name: String, nodes: [Node], initializers: [String: Tensor], inputs: [ValueInfo], outputs: [ValueInfo]) {
        self.name = name
        self.nodes = nodes
        self.initializers = initializers
        self.inputs = inputs
        self.outputs = outputs
    }
}

/// A loaded model: the main graph plus the metadata that decides how to run it.
public struct Model: Sendable {
    /// The ONNX IR version of the file.
    public var irVersion: Int64
    /// Opset version per domain (`""` for ai.onnx).
    public var opsetImports: [String: Int]
    /// The tool that wrote the file, e.g. `skl2onnx`.
    public var producerName: String
    /// The producer's version string.
    public var producerVersion: String
    /// The model's own version number.
    public var modelVersion: Int64
    /// Free-form documentation from the file.
    public var docString: String
    /// `metadata_props` key/value pairs.
    public var metadata: [String: String]
    /// The main graph.
    public var graph: Graph

    public init(irVersion: Int64, opsetImports: [String: Int], producerName: String = "", producerVersion: String = "",
                modelVersion: Int64 = 0, docString: String = "", metadata: [String: String] = [:], graph: Graph) {
        self.irVersion = irVersion
        self.opsetImports = opsetImports
        self.producerName = producerName
        self.producerVersion = producerVersion
        self.modelVersion = modelVersion
        self.docString = docString
        self.metadata = metadata
        self.graph = graph
    }

    /// The opset the model imports for `domain` (`""` and `ai.onnx` are the same domain).
    public func opset(for domain: String) -> Int? {
        if domain.isEmpty || domain == "ai.onnx" { return opsetImports[""] ?? opsetImports["ai.onnx"] }
        return opsetImports[domain]
    }
}
