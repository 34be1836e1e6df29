/// Leaves out of a Prometheus exposition every sample whose `model` label names a model the
/// caller may not see, so one tenant's viewer reads no other tenant's series.
enum MetricsFilter {
    static func filter(_ text: String, maySee: (String) -> Bool) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if let model = modelLabel(line), !maySee(model) { continue }
            out += line
            out += "\n"
        }
        if out.hasSuffix("\n\n") { out.removeLast() }
        return out
    }

    /// The value of the `model` label of a sample line; nil for comments and unlabelled samples.
    static func modelLabel(_ line: Substring) -> String? {
        guard !line.hasPrefix("#"), let open = line.firstIndex(of: "{") else { return nil }
        let labels = line[line.index(after: open)...]
        var rest = labels[...]
        // Labels are `name="value"` separated by commas; model names never hold quotes or commas.
        while let eq = rest.firstIndex(of: "=") {
            let name = rest[..<eq].trimmingCharacters(in: .init(charactersIn: ", "))
            let afterEq = rest.index(after: eq)
            guard afterEq < rest.endIndex, rest[afterEq] == "\"" else { return nil }
            let valueStart = rest.index(after: afterEq)
            guard let close = rest[valueStart...].firstIndex(of: "\"") else { return nil }
            if name == "model" { return String(rest[valueStart..<close]) }
            rest = rest[rest.index(after: close)...]
            if rest.hasPrefix("}") { return nil }
        }
        return nil
    }
}
