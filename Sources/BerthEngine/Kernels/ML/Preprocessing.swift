import BerthONNX
import BerthTensor

/// ai.onnx.ml Scaler: Y = (X - offset) * scale, per column (or one value for all), as float.
func mlScaler(_ node: Node) throws -> Kernel {
    let offset = try node.floats("offset") ?? []
    let scale = try node.floats("scale") ?? []
    return { inputs, _ in
        let x = try inputs.required(0)
        let m = try MLMatrix(x)
        let xs = try mlFloats(x)
        func param(_ p: [Float], _ name: String, _ fallback: Float) throws -> (Int) -> Float {
            if p.isEmpty { return { _ in fallback } }
            if p.count == 1 { let v = p[0]; return { _ in v } }
            guard p.count == m.features else { throw KernelError("\(name) has \(p.count) values for \(m.features) features") }
            return { p[$0] }
        }
        let off = try param(offset, "offset", 0), sc = try param(scale, "scale", 1)
        var y = [Float](repeating: 0, count: xs.count)
        let f = Swift.max(1, m.features)
        for i in 0..<xs.count { let j = i % f; y[i] = (xs[i] - off(j)) * sc(j) }
        return [Tensor(unchecked: x.shape, storage: .float32(y))]
    }
}

/// ai.onnx.ml Normalizer: each row divided by its MAX, L1 or L2 norm (rows of zeros pass through).
func mlNormalizer(_ node: Node) throws -> Kernel {
    let norm = try node.string("norm", default: "MAX")
    guard ["MAX", "L1", "L2"].contains(norm) else { throw KernelError("unknown norm '\(norm)'") }
    return { inputs, _ in
        let x = try inputs.required(0)
        let m = try MLMatrix(x)
        let xs = try mlFloats(x)
        // L2 squares in the input's own type before the float cast, as ORT does.
        let exact = norm == "L2" && x.dtype != .float32 ? try mlDoubles(x) : []
        var y = [Float](repeating: 0, count: xs.count)
        for r in 0..<m.rows {
            let lo = r * m.features, hi = lo + m.features
            switch norm {
            case "MAX":
                var mx = -Float.greatestFiniteMagnitude
                for i in lo..<hi { mx = Swift.max(mx, xs[i]) }
                for i in lo..<hi { y[i] = mx != 0 ? xs[i] / mx : xs[i] }
            case "L1":
                var sum: Float = 0
                for i in lo..<hi { sum += Swift.abs(xs[i]) }
                for i in lo..<hi { y[i] = sum != 0 ? xs[i] / sum : xs[i] }
            default:
                var sum: Float = 0
                var sq = [Float](repeating: 0, count: m.features)
                for i in lo..<hi { sq[i - lo] = exact.isEmpty ? xs[i] * xs[i] : Float(exact[i] * exact[i]); sum += sq[i - lo] }
                for i in lo..<hi {
                    if sum != 0 {
                        let v = (sq[i - lo] / sum).squareRoot()
                        y[i] = xs[i] < 0 ? -v : v
                    } else {
                        y[i] = xs[i]
                    }
                }
            }
        }
        return [Tensor(unchecked: x.shape, storage: .float32(y))]
    }
}

/// ai.onnx.ml Binarizer: 1 where X > threshold, else 0, in X's type.
func mlBinarizer(_ node: Node) throws -> Kernel {
    let threshold = try node.float("threshold", default: 0)
    return { inputs, _ in
        let x = try inputs.required(0)
        switch x.storage {
        case let .float32(v): return [Tensor(unchecked: x.shape, storage: .float32(v.map { $0 > threshold ? 1 : 0 }))]
        case let .float64(v): return [Tensor(unchecked: x.shape, storage: .float64(v.map { $0 > Double(threshold) ? 1 : 0 }))]
        case let .int64(v): return [Tensor(unchecked: x.shape, storage: .int64(v.map { Float($0) > threshold ? 1 : 0 }))]
        case let .int32(v): return [Tensor(unchecked: x.shape, storage: .int32(v.map { Float($0) > threshold ? 1 : 0 }))]
        default: throw KernelError("Binarizer takes float, double, int64 or int32, got \(x.dtype)")
        }
    }
}

/// ai.onnx.ml Imputer: replaces `replaced_value_*` (NaN when that is NaN) by the column's imputed value.
func mlImputer(_ node: Node) throws -> Kernel {
    let floats = try node.floats("imputed_value_floats") ?? []
    let ints = (try node.ints("imputed_value_int64s") ?? []).map { Int64($0) }
    let replacedFloat = try node.float("replaced_value_float", default: 0)
    let replacedInt = Int64(try node.int("replaced_value_int64", default: 0))
    return { inputs, _ in
        let x = try inputs.required(0)
        let m = try MLMatrix(x.rank == 0 ? x.reshaped([1]) : x)
        func pick<T>(_ values: [T], _ name: String) throws -> (Int) -> T {
            guard !values.isEmpty else { throw KernelError("\(name) is empty for a \(x.dtype) input") }
            if values.count == 1 { let v = values[0]; return { _ in v } }
            guard values.count == m.features else { throw KernelError("\(name) has \(values.count) values for \(m.features) columns") }
            return { values[$0 % m.features] }
        }
        func replace<T: BinaryFloatingPoint>(_ v: [T]) throws -> [T] {
            let imputed = try pick(floats, "imputed_value_floats")
            let target = T(replacedFloat)
            return v.enumerated().map { i, e in (target.isNaN ? e.isNaN : e == target) ? T(imputed(i)) : e }
        }
        switch x.storage {
        case let .float32(v): return [Tensor(unchecked: x.shape, storage: .float32(try replace(v)))]
        case let .float64(v): return [Tensor(unchecked: x.shape, storage: .float64(try replace(v)))]
        case let .int64(v):
            let imputed = try pick(ints, "imputed_value_int64s")
            return [Tensor(unchecked: x.shape, storage: .int64(v.enumerated().map { $1 == replacedInt ? imputed($0) : $1 }))]
        case let .int32(v):
            let imputed = try pick(ints, "imputed_value_int64s")
            return [Tensor(unchecked: x.shape, storage: .int32(v.enumerated().map { Int64($1) == replacedInt ? Int32(truncatingIfNeeded: imputed($0)) : $1 }))]
        default: throw KernelError("Imputer takes float, double, int64 or int32, got \(x.dtype)")
        }
    }
}
