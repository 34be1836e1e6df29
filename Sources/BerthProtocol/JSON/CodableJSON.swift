import Foundation

/// The one JSON configuration for Codable bodies — metadata, configuration, statistics, admin
/// and repository bodies, `berth registry --json`: keys as each type's `CodingKeys` spell them
/// (snake_case), sorted, ISO-8601 times, `/` unescaped. Configured once and shared (the coders are
/// thread-safe). Tensor data go through ``V2InferenceRequest`` / ``V2InferenceResponse`` instead:
/// bench/RESULTS.md has the A/B figure that keeps them out of `JSONDecoder`.
public enum CodableJSON {
    /// Compact output, for the APIs.
    public static let encoder: JSONEncoder = makeEncoder([.sortedKeys, .withoutEscapingSlashes])
    /// Indented output, for people (`--json`).
    public static let prettyEncoder: JSONEncoder = makeEncoder([.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])
    /// Reads what ``encoder`` writes (and request bodies).
    public static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()

    /// Encodes a value (pretty-printed for people, compact for the APIs).
    public static func encode<T: Encodable>(_ value: T, pretty: Bool = false) throws -> Data {
        try (pretty ? prettyEncoder : encoder).encode(value)
    }

    /// Decodes a `T` from JSON bytes.
    public static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        try decoder.decode(type, from: data)
    }

    private static func makeEncoder(_ formatting: JSONEncoder.OutputFormatting) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = formatting
        return encoder
    }
}
