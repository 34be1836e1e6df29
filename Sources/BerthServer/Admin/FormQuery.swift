import Foundation

/// A URL query string decoded the way HTML forms and `urllib.parse.urlencode` encode it: `+` is
/// a space, `%XX` a byte. (Hummingbird's `queryParameters` leaves `+` as is.)
struct FormQuery {
    private var pairs: [(String, String)] = []

    init(_ query: String?) {
        guard let query, !query.isEmpty else { return }
        for part in query.split(separator: "&", omittingEmptySubsequences: true) {
            let kv = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            pairs.append((Self.decode(kv[0]), kv.count > 1 ? Self.decode(kv[1]) : ""))
        }
    }

    /// The first value of `name`.
    func get(_ name: String) -> String? { pairs.first { $0.0 == name }?.1 }

    /// Every value of `name`, in order.
    func getAll(_ name: String) -> [String] { pairs.filter { $0.0 == name }.map(\.1) }

    /// The first value of `name` as an integer; nil when absent, a 400 naming `what` when it is not one.
    func integer(_ name: String, what: String) throws -> Int? {
        guard let text = get(name) else { return nil }
        guard let n = Int(text) else { throw ServerError.badRequest("\(name) '\(text)' is not \(what)") }
        return n
    }

    /// True when `name` is `true` or `1`.
    func flag(_ name: String) -> Bool { get(name).map { $0 == "true" || $0 == "1" } ?? false }

    private static func decode(_ s: Substring) -> String {
        let spaced = s.replacingOccurrences(of: "+", with: " ")
        return spaced.removingPercentEncoding ?? spaced
    }
}
