import Foundation

/// The JSON spelling of registry records shared by `berth registry --json` and the admin API:
/// snake_case keys (declared on the records), ISO-8601 times, sorted keys.
public enum RegistryJSON {
    /// Encodes a record (pretty-printed for people, compact for the API).
    public static func encode<T: Encodable>(_ value: T, pretty: Bool = false) throws -> Data {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(value)
    }
}
