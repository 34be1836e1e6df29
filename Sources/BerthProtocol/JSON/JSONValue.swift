/// A parsed JSON value. Request headers, parameters and configs are small and parsed into this;
/// tensor `data` arrays stay `.raw` (a byte range of the body) until their datatype is known, so
/// big arrays are decoded straight into typed storage without boxing each element.
enum JSONValue: Sendable {
    case null
    case bool(Bool)
    /// A number: its Double value and, when the literal is an integer that fits, the exact Int64.
    case number(Double, Int64?)
    case string(String)
    case array([JSONValue])
    /// Members in document order (objects in the protocol are small; lookup is linear).
    case object([(String, JSONValue)])
    /// An unparsed array, validated, kept as a byte range of the document.
    case raw(Range<Int>)

    /// The member named `key` of an object.
    subscript(key: String) -> JSONValue? {
        guard case let .object(members) = self else { return nil }
        for (k, v) in members where k == key { return v }
        return nil
    }

    var stringValue: String? { if case let .string(s) = self { return s }; return nil }
    var boolValue: Bool? { if case let .bool(b) = self { return b }; return nil }
    var arrayValue: [JSONValue]? { if case let .array(a) = self { return a }; return nil }
    var objectValue: [(String, JSONValue)]? { if case let .object(o) = self { return o }; return nil }
    var isNull: Bool { if case .null = self { return true }; return false }

    /// The exact integer value of an integral number.
    var intValue: Int? {
        guard case let .number(d, i) = self else { return nil }
        if let i { return Int(exactly: i) }
        if d == d.rounded(), abs(d) < 9.0e15 { return Int(d) }
        return nil
    }

    /// The JSON type name, for error messages.
    var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .number: return "number"
        case .string: return "string"
        case .array, .raw: return "array"
        case .object: return "object"
        }
    }
}
