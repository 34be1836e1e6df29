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
        case .float16: return (0..<t.count).map { .real(t.storage.double(at: $0)) }
        default:
            // integers() throws for non-integer types (bool, strings were handled above).
            return try t.integers().map { .int(Int64($0)) }
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

/// A key → value table with a default, shared by LabelEncoder and CategoryMapper. Values and the
/// default live in one storage (default last) so any value type gathers the same way.
private struct MLLookup {
    let table: [MLKey: Int]
    let storage: TensorStorage
    let defaultIndex: Int

    init(keys: [MLKey], values: TensorStorage, fallback: TensorStorage) throws {
        guard keys.count == values.count else { throw KernelError("\(keys.count) keys but \(values.count) values") }
        guard fallback.count == 1 else { throw KernelError("the default must be one value, got \(fallback.count)") }
        guard values.dtype == fallback.dtype else { throw KernelError("default is \(fallback.dtype) but values are \(values.dtype)") }
        var t: [MLKey: Int] = [:]
        for (i, k) in keys.enumerated() where t[k] == nil { t[k] = i }
        table = t
        storage = try .concatenate([values, fallback])
        defaultIndex = keys.count
    }

    func callAsFunction(_ x: Tensor) throws -> Tensor {
        let picks = try MLKey.keys(of: x).map { table[$0] ?? defaultIndex }
        return Tensor(unchecked: x.shape, storage: storage.gather(picks))
    }
}

/// ai.onnx.ml LabelEncoder, opset 1 (classes_strings) and opsets 2–4 (keys_*/values_*).
func mlLabelEncoder(_ node: Node, opset: Int) throws -> Kernel {
    let defaultString = try node.string("default_string", default: "_Unused")
    let defaultInt = Int64(try node.int("default_int64", default: -1))
    if opset < 2 {
        let classes = try node.strings("classes_strings") ?? []
        let toInt = try MLLookup(keys: classes.map { .string($0) }, values: .int64((0..<classes.count).map { Int64($0) }), fallback: .int64([defaultInt]))
        let toString = try MLLookup(keys: (0..<classes.count).map { .int(Int64($0)) }, values: .string(classes), fallback: .string([defaultString]))
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
    let values: TensorStorage
    if let t = try node.tensor("values_tensor") { values = t.storage }
    else if let v = try node.strings("values_strings") { values = .string(v) }
    else if let i = try node.ints("values_int64s") { values = .int64(i.map { Int64($0) }) }
    else if let f = try node.floats("values_floats") { values = .float32(f) }
    else { throw KernelError("LabelEncoder needs values_strings, values_int64s, values_floats or values_tensor") }
    let fallback: TensorStorage
    if let t = try node.tensor("default_tensor") {
        fallback = t.storage
    } else {
        switch values.dtype {
        case .string: fallback = .string([defaultString])
        case .int64: fallback = .int64([defaultInt])
        case .float32: fallback = .float32([try node.float("default_float", default: -0.0)])
        default: fallback = .zeros(values.dtype, count: 1)
        }
    }
    let lookup = try MLLookup(keys: keys, values: values, fallback: fallback)
    return { inputs, _ in [try lookup(try inputs.required(0))] }
}

/// ai.onnx.ml CategoryMapper: strings ↔ int64 through the parallel cats_strings/cats_int64s lists.
func mlCategoryMapper(_ node: Node) throws -> Kernel {
    let strings = try node.strings("cats_strings") ?? []
    let ints = (try node.ints("cats_int64s") ?? []).map { Int64($0) }
    guard strings.count == ints.count else { throw KernelError("cats_strings and cats_int64s differ in length") }
    let toInt = try MLLookup(keys: strings.map { .string($0) }, values: .int64(ints),
                             fallback: .int64([Int64(try node.int("default_int64", default: -1))]))
    let toString = try MLLookup(keys: ints.map { .int($0) }, values: .string(strings),
                                fallback: .string([try node.string("default_string", default: "_Unused")]))
    return { inputs, _ in
        let x = try inputs.required(0)
        switch x.dtype {
        case .string: return [try toInt(x)]
        case .int64: return [try toString(x)]
        default: throw KernelError("CategoryMapper takes string or int64, got \(x.dtype)")
        }
    }
}
