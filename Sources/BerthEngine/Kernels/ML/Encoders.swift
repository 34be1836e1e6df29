import BerthONNX
import BerthTensor

/// A category key: strings, integers, or floats (NaN keys match NaN inputs).
enum MLKey: Hashable {
    case string(String)
    case int(Int64)
    case real(UInt64)

    static func real(_ v: Double) -> MLKey { .real(v.isNaN ? Double.nan.bitPattern : (v == 0 ? 0 : v.bitPattern)) }

    /// The keys of every element of `t`, converting floats exactly through Double.
    static func keys(of t: Tensor) throws -> [MLKey] {
        switch t.storage {
        case let .string(v): return v.map { .string($0) }
        case let .int64(v): return v.map { .int($0) }
        case let .int32(v): return v.map { .int(Int64($0)) }
        case let .float32(v): return v.map { .real(Double($0)) }
        case let .float64(v): return v.map { .real($0) }
        default: throw KernelError("unsupported key type \(t.dtype)")
        }
    }
}

/// ai.onnx.ml OneHotEncoder: appends a category axis; unknown categories give all zeros (or an
/// error when zeros=0). Float inputs are truncated to int64 as ORT does.
func mlOneHotEncoder(_ node: Node) throws -> Kernel {
    let strings = try node.strings("cats_strings") ?? []
    let ints = (try node.ints("cats_int64s") ?? []).map { Int64($0) }
    let zeros = try node.int("zeros", default: 1) != 0
    let cats = strings.isEmpty ? ints.count : strings.count
    guard cats > 0 else { throw KernelError("cats_strings or cats_int64s is required") }
    var index: [MLKey: Int] = [:]
    if strings.isEmpty { for (i, v) in ints.enumerated() where index[.int(v)] == nil { index[.int(v)] = i } }
    else { for (i, s) in strings.enumerated() where index[.string(s)] == nil { index[.string(s)] = i } }
    let table = index
    return { inputs, _ in
        let x = try inputs.required(0)
        let keys: [MLKey]
        switch x.storage {
        case let .float32(v): keys = v.map { .int(Int64(exactly: $0.rounded(.towardZero)) ?? .min) }
        case let .float64(v): keys = v.map { .int(Int64(exactly: $0.rounded(.towardZero)) ?? .min) }
        default: keys = try MLKey.keys(of: x)
        }
        let count = try Shape.elementCount(x.shape + [cats])
        var y = [Float](repeating: 0, count: count)
        for (i, k) in keys.enumerated() {
            if let c = table[k] { y[i * cats + c] = 1 } else if !zeros {
                throw KernelError("unknown category at element \(i) and zeros = 0")
            }
        }
        return [Tensor(unchecked: x.shape + [cats], storage: .float32(y))]
    }
}

/// A list of values of one ONNX type, for LabelEncoder/CategoryMapper outputs.
private enum MLValues {
    case strings([String]), ints([Int64]), floats([Float]), doubles([Double])

    init(_ t: Tensor) throws {
        switch t.storage {
        case let .string(v): self = .strings(v)
        case let .int64(v): self = .ints(v)
        case let .float32(v): self = .floats(v)
        case let .float64(v): self = .doubles(v)
        default: throw KernelError("unsupported value type \(t.dtype)")
        }
    }

    var count: Int {
        switch self {
        case let .strings(v): return v.count
        case let .ints(v): return v.count
        case let .floats(v): return v.count
        case let .doubles(v): return v.count
        }
    }

    /// Picks element `i` of this list, or of `fallback` (one element) when `i` is nil.
    func gather(_ picks: [Int?], fallback: MLValues, shape: [Int]) -> Tensor {
        switch (self, fallback) {
        case let (.strings(v), .strings(d)): return Tensor(unchecked: shape, storage: .string(picks.map { $0.map { v[$0] } ?? d[0] }))
        case let (.ints(v), .ints(d)): return Tensor(unchecked: shape, storage: .int64(picks.map { $0.map { v[$0] } ?? d[0] }))
        case let (.floats(v), .floats(d)): return Tensor(unchecked: shape, storage: .float32(picks.map { $0.map { v[$0] } ?? d[0] }))
        case let (.doubles(v), .doubles(d)): return Tensor(unchecked: shape, storage: .float64(picks.map { $0.map { v[$0] } ?? d[0] }))
        default: preconditionFailure("values and default differ in type")
        }
    }
}

/// A key → value table with a default, shared by LabelEncoder and CategoryMapper.
private struct MLLookup {
    let table: [MLKey: Int]
    let values: MLValues
    let fallback: MLValues

    init(keys: [MLKey], values: MLValues, fallback: MLValues) throws {
        guard keys.count == values.count else { throw KernelError("\(keys.count) keys but \(values.count) values") }
        var t: [MLKey: Int] = [:]
        for (i, k) in keys.enumerated() where t[k] == nil { t[k] = i }
        table = t
        self.values = values
        self.fallback = fallback
    }

    func callAsFunction(_ x: Tensor) throws -> Tensor {
        values.gather(try MLKey.keys(of: x).map { table[$0] }, fallback: fallback, shape: x.shape)
    }
}

/// ai.onnx.ml LabelEncoder, opset 1 (classes_strings) and opsets 2–4 (keys_*/values_*).
func mlLabelEncoder(_ node: Node, opset: Int) throws -> Kernel {
    let defaultString = try node.string("default_string", default: "_Unused")
    let defaultInt = Int64(try node.int("default_int64", default: -1))
    if opset < 2 {
        let classes = try node.strings("classes_strings") ?? []
        let toInt = try MLLookup(keys: classes.map { .string($0) }, values: .ints((0..<classes.count).map { Int64($0) }), fallback: .ints([defaultInt]))
        let toString = try MLLookup(keys: (0..<classes.count).map { .int(Int64($0)) }, values: .strings(classes), fallback: .strings([defaultString]))
        return { inputs, _ in
            let x = try inputs.required(0)
            return [x.dtype == .string ? try toInt(x) : try toString(x)]
        }
    }
    let keys: [MLKey]
    if let t = try node.tensor("keys_tensor") { keys = try MLKey.keys(of: t) }
    else if let s = try node.strings("keys_strings") { keys = s.map { .string($0) } }
    else if let i = try node.ints("keys_int64s") { keys = i.map { .int(Int64($0)) } }
    else if let f = try node.floats("keys_floats") { keys = f.map { .real(Double($0)) } }
    else { throw KernelError("LabelEncoder needs keys_strings, keys_int64s, keys_floats or keys_tensor") }
    let values: MLValues
    if let t = try node.tensor("values_tensor") { values = try MLValues(t) }
    else if let s = try node.strings("values_strings") { values = .strings(s) }
    else if let i = try node.ints("values_int64s") { values = .ints(i.map { Int64($0) }) }
    else if let f = try node.floats("values_floats") { values = .floats(f) }
    else { throw KernelError("LabelEncoder needs values_strings, values_int64s, values_floats or values_tensor") }
    let fallback: MLValues
    if let t = try node.tensor("default_tensor") {
        fallback = try MLValues(t)
        guard fallback.count == 1 else { throw KernelError("default_tensor must hold one value") }
    } else {
        switch values {
        case .strings: fallback = .strings([defaultString])
        case .ints: fallback = .ints([defaultInt])
        case .floats: fallback = .floats([try node.float("default_float", default: -0.0)])
        case .doubles: fallback = .doubles([-0.0])
        }
    }
    switch (values, fallback) {
    case (.strings, .strings), (.ints, .ints), (.floats, .floats), (.doubles, .doubles): break
    default: throw KernelError("default_tensor's type differs from the values'")
    }
    let lookup = try MLLookup(keys: keys, values: values, fallback: fallback)
    return { inputs, _ in [try lookup(try inputs.required(0))] }
}

/// ai.onnx.ml CategoryMapper: strings ↔ int64 through the parallel cats_strings/cats_int64s lists.
func mlCategoryMapper(_ node: Node) throws -> Kernel {
    let strings = try node.strings("cats_strings") ?? []
    let ints = (try node.ints("cats_int64s") ?? []).map { Int64($0) }
    guard strings.count == ints.count else { throw KernelError("cats_strings and cats_int64s differ in length") }
    let toInt = try MLLookup(keys: strings.map { .string($0) }, values: .ints(ints),
                             fallback: .ints([Int64(try node.int("default_int64", default: -1))]))
    let toString = try MLLookup(keys: ints.map { .int($0) }, values: .strings(strings),
                                fallback: .strings([try node.string("default_string", default: "_Unused")]))
    return { inputs, _ in
        let x = try inputs.required(0)
        switch x.dtype {
        case .string: return [try toInt(x)]
        case .int64: return [try toString(x)]
        default: throw KernelError("CategoryMapper takes string or int64, got \(x.dtype)")
        }
    }
}
