import Foundation

/// The JSON spelling of registry records shared by `berth registry --json`, the admin API and
/// the server's other JSON bodies: snake_case keys (declared on the records), ISO-8601 times,
/// sorted keys, `/` unescaped. The coders are configured once here and shared (they are
/// thread-safe).
public enum RegistryJSON {
    /// Compact output, for the API.
    public static let encoder: JSONEncoder = makeEncoder([.sortedKeys, .withoutEscapingSlashes])
    /// Indented output, for people (`--json`).
    public static let prettyEncoder: JSONEncoder = makeEncoder([.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])
    /// Reads what ``encoder`` writes (and request bodies).
    public static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()

    /// Encodes a record (pretty-printed for people, compact for the API).
    public static func encode<T: Encodable>(_ value: T, pretty: Bool = false) throws -> Data {
        try (pretty ? prettyEncoder : encoder).encode(value)
    }

    private static func makeEncoder(_ formatting: JSONEncoder.OutputFormatting) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = formatting
        return encoder
    }
}
