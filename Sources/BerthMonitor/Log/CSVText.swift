/// CSV as Berth writes it (`berth monitor log`, the data a `retrain` action hands over).
public enum CSVText {
    /// One field, quoted when it holds a comma, a quote or a line break.
    public static func field(_ s: String) -> String {
        s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" })
            ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }
}
