import Foundation

/// The one JSON encoder and decoder configuration for Codable bodies (metadata, configuration,
/// statistics, admin and repository bodies): slashes unescaped, keys spelled by each type's
/// `CodingKeys`. Tensor data goes through ``V2InferenceRequest`` / ``V2InferenceResponse`` instead.
public enum CodableJSON {
    /// Encodes `value` as compact JSON.
    public static func encode<T: Encodable>(_ value: T, pretty: Bool = false) throws -> Data {
        let e = JSONEncoder()
        e.outputFormatting = pretty ? [.withoutEscapingSlashes, .prettyPrinted, .sortedKeys] : [.withoutEscapingSlashes]
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return try e.encode(value)
    }

    /// Decodes a `T` from JSON bytes.
    public static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        try JSONDecoder().decode(type, from: data)
    }
}
