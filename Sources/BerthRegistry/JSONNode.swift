import BerthProtocol
import Foundation

/// Any JSON value, for record fields whose content the registry stores but does not interpret
/// (a version's serving configuration).
public indirect enum JSONNode: Sendable, Equatable, Codable {
    /// `null`: an absent value.
    case null
    /// `true` or `false`.
    case bool(Bool)
    /// Any number, integers included (a whole number encodes without a fraction).
    case number(Double)
    /// A string, escapes already decoded.
    case string(String)
    /// An array, in its original order.
    case array([JSONNode])
    /// An object by member name; member order is not kept (``jsonData`` sorts keys).
    case object([String: JSONNode])

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let n = try? c.decode(Double.self) { self = .number(n) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONNode].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONNode].self)) }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case let .bool(b): try c.encode(b)
        case let .number(n):
            // Whole numbers print without a fraction (`32`, not `32.0`), as people wrote them.
            if n == n.rounded(), abs(n) < 1e15 { try c.encode(Int64(n)) } else { try c.encode(n) }
        case let .string(s): try c.encode(s)
        case let .array(a): try c.encode(a)
        case let .object(o): try c.encode(o)
        }
    }

    /// The value as compact JSON text with sorted keys (encoding a node cannot fail).
    public var jsonData: Data { (try? CodableJSON.encoder.encode(self)) ?? Data("null".utf8) }
}
