import Foundation

/// The columns of a stored tensor list (`[{"name","datatype","shape","data"}]`), one row per
/// entry along the first axis: a tensor `[N]` or `[N, 1]` is one column named after it, a tensor
/// `[N, k]` gives `NAME_0 … NAME_k-1`. What `berth monitor log` writes as CSV and what the
/// online drift check compares with the reference sample.
public struct LoggedColumns: Sendable, Equatable {
    /// Column names, tensor by tensor.
    public var names: [String] = []
    /// Per tensor: its name and its columns' range in `names`.
    public var tensors: [(name: String, columns: Range<Int>)] = []
    /// One array of cell texts per row.
    public var rows: [[String]] = []

    public static func == (a: LoggedColumns, b: LoggedColumns) -> Bool {
        a.names == b.names && a.rows == b.rows && a.tensors.map(\.name) == b.tensors.map(\.name)
    }

    /// Parses `json` holding `rows` rows; tensors whose size is not a multiple of `rows` are skipped.
    public init(json: String, rows: Int) {
        self.rows = Array(repeating: [], count: max(rows, 0))
        guard rows > 0, let list = (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [[String: Any]] else { return }
        for t in list {
            guard let name = t["name"] as? String, let shape = t["shape"] as? [Int], let data = t["data"] as? [Any],
                  data.count % rows == 0, data.count > 0 else { continue }
            let width = data.count / rows
            let flat = shape.count <= 1 || (shape.count == 2 && shape[1] == 1)
            let start = names.count
            names += flat && width == 1 ? [name] : (0..<width).map { "\(name)_\($0)" }
            tensors.append((name, start..<names.count))
            for r in 0..<rows { self.rows[r] += data[r * width ..< (r + 1) * width].map(Self.text) }
        }
    }

    /// A JSON value as CSV text: integral numbers without a fraction, null as empty.
    static func text(_ v: Any) -> String {
        if let n = v as? NSNumber {
            let d = n.doubleValue
            if d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) }
            return "\(d)"
        }
        if v is NSNull { return "" }
        return "\(v)"
    }
}
