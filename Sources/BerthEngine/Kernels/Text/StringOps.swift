import BerthONNX
import BerthTensor
import Foundation

extension KernelRegistry {
    /// The string ops of opset 20: StringConcat (broadcasting), StringSplit and RegexFullMatch.
    mutating func registerStringOps() {
        register("StringConcat", opsets: 20...Int.max) { _, _ in
            { inputs, _ in
                let a = try inputs.required(0), b = try inputs.required(1)
                guard case let .string(x) = a.storage, case let .string(y) = b.storage else {
                    throw KernelError("StringConcat inputs must be strings, got \(a.dtype) and \(b.dtype)")
                }
                let shape = try Broadcast.shape([a.shape, b.shape])
                _ = try TensorFamily.count(shape)
                let xs = try Broadcast.expand(x, from: a.shape, to: shape), ys = try Broadcast.expand(y, from: b.shape, to: shape)
                return [Tensor(unchecked: shape, storage: .string(zip(xs, ys).map { $0 + $1 }))]
            }
        }
        register("StringSplit", opsets: 20...Int.max) { node, _ in
            let delimiter = try node.string("delimiter", default: "")
            let maxSplit = node.attributes["maxsplit"] == nil ? nil : try node.int("maxsplit")
            if let maxSplit, maxSplit < 0 { throw KernelError("StringSplit maxsplit must be >= 0, got \(maxSplit)") }
            return { inputs, _ in
                let x = try inputs.required(0)
                guard case let .string(v) = x.storage else { throw KernelError("StringSplit input must be strings, got \(x.dtype)") }
                let parts = v.map { stringSplit($0, delimiter: delimiter, maxSplit: maxSplit) }
                let width = parts.map(\.count).max() ?? 0
                let count = try TensorFamily.count(x.shape + [width])
                var out: [String] = []
                out.reserveCapacity(count)
                for p in parts { out += p + [String](repeating: "", count: width - p.count) }
                return [Tensor(unchecked: x.shape + [width], storage: .string(out)),
                        Tensor(unchecked: x.shape, storage: .int64(parts.map { Int64($0.count) }))]
            }
        }
        register("RegexFullMatch", opsets: 20...Int.max) { node, _ in
            let pattern = try node.string("pattern", default: "")
            let regex: NSRegularExpression
            do { regex = try NSRegularExpression(pattern: "\\A(?:\(pattern))\\z") } catch {
                throw KernelError("RegexFullMatch cannot compile pattern '\(pattern)': \(error)")
            }
            let box = SharedRegex(regex)
            return { inputs, _ in
                let x = try inputs.required(0)
                guard case let .string(v) = x.storage else { throw KernelError("RegexFullMatch input must be strings, got \(x.dtype)") }
                return [Tensor(unchecked: x.shape, storage: .bool(v.map { box.matches($0) }))]
            }
        }
    }
}

/// A compiled regular expression shared by a kernel's runs. NSRegularExpression is immutable
/// after creation and documented as safe to use from several threads.
final class SharedRegex: @unchecked Sendable {
    let regex: NSRegularExpression
    init(_ regex: NSRegularExpression) { self.regex = regex }

    /// Whether the pattern matches somewhere in `s` (the whole of it for an anchored pattern).
    func matches(_ s: String) -> Bool {
        regex.firstMatch(in: s, options: [], range: NSRange(location: 0, length: (s as NSString).length)) != nil
    }
}

/// Python's str.split: on runs of whitespace (ends ignored) without a delimiter, else on each
/// delimiter; at most `maxSplit` splits, the rest left whole. An empty string has no parts
/// (ONNX Runtime's reading; Python gives [""] with a delimiter).
func stringSplit(_ s: String, delimiter: String, maxSplit: Int?) -> [String] {
    var parts: [String] = []
    if s.isEmpty { return [] }
    if delimiter.isEmpty {
        var rest = Substring(s).drop(while: \.isWhitespace)
        while !rest.isEmpty {
            if let maxSplit, parts.count == maxSplit {
                // The unsplit rest loses its trailing whitespace (as in ONNX Runtime).
                while rest.last?.isWhitespace == true { rest = rest.dropLast() }
                parts.append(String(rest))
                break
            }
            let word = rest.prefix(while: { !$0.isWhitespace })
            parts.append(String(word))
            rest = rest.dropFirst(word.count).drop(while: \.isWhitespace)
        }
        return parts
    }
    var rest = Substring(s)
    while let r = rest.range(of: delimiter), maxSplit.map({ parts.count < $0 }) ?? true {
        parts.append(String(rest[..<r.lowerBound]))
        rest = rest[r.upperBound...]
    }
    parts.append(String(rest))
    return parts
}
