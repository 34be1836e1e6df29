import Foundation

/// Durations as people write them in flags and rule files: `500ms`, `10s`, `2m`, `1h`, `7d`,
/// or plain seconds.
public enum DurationText {
    /// The duration in seconds; nil when `text` is not one (or is negative or not finite).
    public static func seconds(_ text: String) -> TimeInterval? {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86_400)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            guard let v = Double(text.dropLast(suffix.count)), v.isFinite, v >= 0 else { return nil }
            return v * scale
        }
        guard let v = Double(text), v.isFinite, v >= 0 else { return nil }
        return v
    }
}
