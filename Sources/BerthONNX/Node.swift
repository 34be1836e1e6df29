import BerthTensor

/// One operator application in a graph.
public struct Node: Sendable {
    /// The node name (may be empty in files; the loader fills a stable one).
    public var name: String
    /// The operator, e.g. `Conv`.
    public var opType: String
    /// The operator domain; `""` is the default `ai.onnx` domain.
    public var domain: String
    /// Input value names; `""` marks an omitted optional input.
    public var inputs: [String]
    /// Output value names; `""` marks an unused optional output.
    public var outputs: [String]
    /// Attributes by name.
    public var attributes: [String: Attribute]

    public init(name: String, opType: String, domain: String = "", inputs: [String], outputs: [String], attributes: [String: Attribute] = [:]) {
        self.name = name
        self.opType = opType
        self.domain = domain
        self.inputs = inputs
        self.outputs = outputs
        self.attributes = attributes
    }

    /// The canonical domain name (`ai.onnx` for the empty default).
    public var canonicalDomain: String { domain.isEmpty ? "ai.onnx" : domain }
}

extension Node {
    private func wrong(_ name: String, _ expected: String) -> ONNXError {
        .attribute(node: name, name: name, reason: "expected \(expected)")
    }

    /// An int attribute, or `default` when absent.
    public func int(_ key: String, default def: Int) throws -> Int {
        switch attributes[key] {
        case nil: return def
        case let .int(v)?: return v
        default: throw ONNXError.attribute(node: name, name: key, reason: "expected an int")
        }
    }

    /// An int attribute that must be present.
    public func int(_ key: String) throws -> Int {
        guard case let .int(v)? = attributes[key] else {
            throw ONNXError.attribute(node: name, name: key, reason: attributes[key] == nil ? "required attribute missing" : "expected an int")
        }
        return v
    }

    /// A float attribute, or `default` when absent.
    public func float(_ key: String, default def: Float) throws -> Float {
        switch attributes[key] {
        case nil: return def
        case let .float(v)?: return v
        case let .int(v)?: return Float(v)
        default: throw ONNXError.attribute(node: name, name: key, reason: "expected a float")
        }
    }

    /// A string attribute, or `default` when absent.
    public func string(_ key: String, default def: String) throws -> String {
        switch attributes[key] {
        case nil: return def
        case let .string(v)?: return v
        default: throw ONNXError.attribute(node: name, name: key, reason: "expected a string")
        }
    }

    /// An ints attribute, or nil when absent.
    public func ints(_ key: String) throws -> [Int]? {
        switch attributes[key] {
        case nil: return nil
        case let .ints(v)?: return v
        case let .int(v)?: return [v]
        default: throw ONNXError.attribute(node: name, name: key, reason: "expected a list of ints")
        }
    }

    /// A floats attribute, or nil when absent.
    public func floats(_ key: String) throws -> [Float]? {
        switch attributes[key] {
        case nil: return nil
        case let .floats(v)?: return v
        case let .float(v)?: return [v]
        default: throw ONNXError.attribute(node: name, name: key, reason: "expected a list of floats")
        }
    }

    /// A strings attribute, or nil when absent.
    public func strings(_ key: String) throws -> [String]? {
        switch attributes[key] {
        case nil: return nil
        case let .strings(v)?: return v
        case let .string(v)?: return [v]
        default: throw ONNXError.attribute(node: name, name: key, reason: "expected a list of strings")
        }
    }

    /// A tensor attribute, or nil when absent.
    public func tensor(_ key: String) throws -> Tensor? {
        switch attributes[key] {
        case nil: return nil
        case let .tensor(v)?: return v
        default: throw ONNXError.attribute(node: name, name: key, reason: "expected a tensor")
        }
    }
}
