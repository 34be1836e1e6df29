import BerthONNX
import BerthTensor

/// Reshape, Flatten, Squeeze and Unsqueeze: they only change the shape, so the storage array is
/// shared (copy-on-write) rather than copied.
extension TensorFamily {
    /// The output shape of Reshape: 0 copies the input dimension (unless `allowZero`), -1 is inferred.
    static func reshapeTarget(input: [Int], requested: [Int], allowZero: Bool) throws -> [Int] {
        let total = try checkedCount(input)
        var out = requested
        var inferred: Int? = nil
        var known = 1
        for (i, d) in requested.enumerated() {
            switch d {
            case -1:
                guard inferred == nil else { throw KernelError("Reshape shape \(requested) has more than one -1") }
                inferred = i
                continue
            case 0 where !allowZero:
                guard i < input.count else {
                    throw KernelError("Reshape shape \(requested) copies dimension \(i) (0) but the input \(input) has rank \(input.count)")
                }
                out[i] = input[i]
            case ..<0:
                throw KernelError("Reshape shape \(requested) has invalid dimension \(d)")
            default:
                break
            }
            let (p, overflow) = known.multipliedReportingOverflow(by: out[i])
            guard !overflow else { throw KernelError("Reshape shape \(requested) is too large") }
            known = p
        }
        if let i = inferred {
            if allowZero && requested.contains(0) {
                throw KernelError("Reshape shape \(requested) has both 0 and -1 with allowzero=1")
            }
            guard known != 0, total % known == 0 else {
                throw KernelError("cannot reshape input of shape \(input) (\(total) elements) to \(requested)")
            }
            out[i] = total / known
        } else if known != total {
            throw KernelError("cannot reshape input of shape \(input) (\(total) elements) to \(out) (\(known) elements)")
        }
        return out
    }

    static func registerReshapeOps(_ r: inout KernelRegistry) {
        r.register("Reshape", opsets: 1...4) { node, _ in
            guard let requested = try node.ints("shape") else { throw KernelError("Reshape needs a 'shape' attribute before opset 5") }
            return { inputs, _ in
                let x = try inputs.required(0)
                let shape = try reshapeTarget(input: x.shape, requested: requested, allowZero: false)
                return [Tensor(unchecked: shape, storage: x.storage)]
            }
        }
        r.register("Reshape", opsets: 5...Int.max) { node, _ in
            let allowZero = try node.int("allowzero", default: 0) != 0
            return { inputs, _ in
                let x = try inputs.required(0)
                let requested = try ints(try inputs.required(1), "Reshape shape")
                let shape = try reshapeTarget(input: x.shape, requested: requested, allowZero: allowZero)
                return [Tensor(unchecked: shape, storage: x.storage)]
            }
        }

        r.register("Flatten") { node, _ in
            let axisAttr = try node.int("axis", default: 1)
            return { inputs, _ in
                let x = try inputs.required(0)
                let rank = x.rank
                let a = axisAttr < 0 ? axisAttr + rank : axisAttr
                guard a >= 0 && a <= rank else { throw KernelError("Flatten axis \(axisAttr) is out of range for rank \(rank)") }
                let outer = try checkedCount(Array(x.shape[..<a]))
                let inner = try checkedCount(Array(x.shape[a...]))
                return [Tensor(unchecked: [outer, inner], storage: x.storage)]
            }
        }

        // Squeeze / Unsqueeze: axes attribute before opset 13, input from 13.
        @Sendable func squeeze(_ x: Tensor, _ axesList: [Int]?) throws -> Tensor {
            var shape = x.shape
            if let list = axesList, !list.isEmpty {
                let axes = try TensorFamily.axes(list, rank: x.rank, "Squeeze axes")
                for a in axes where shape[a] != 1 {
                    throw KernelError("Squeeze axis \(a) has size \(shape[a]), not 1, in input shape \(x.shape)")
                }
                let drop = Set(axes)
                shape = x.shape.enumerated().filter { !drop.contains($0.offset) }.map(\.element)
            } else {
                shape.removeAll { $0 == 1 }
            }
            return Tensor(unchecked: shape, storage: x.storage)
        }
        @Sendable func unsqueeze(_ x: Tensor, _ list: [Int]) throws -> Tensor {
            let outRank = x.rank + list.count
            let axes = try TensorFamily.axes(list, rank: outRank, "Unsqueeze axes")
            var isNew = [Bool](repeating: false, count: outRank)
            for a in axes { isNew[a] = true }
            var shape: [Int] = []
            shape.reserveCapacity(outRank)
            var j = 0
            for k in 0..<outRank {
                if isNew[k] { shape.append(1) } else { shape.append(x.shape[j]); j += 1 }
            }
            return Tensor(unchecked: shape, storage: x.storage)
        }
        r.register("Squeeze", opsets: 1...12) { node, _ in
            let axes = try node.ints("axes")
            return { inputs, _ in [try squeeze(try inputs.required(0), axes)] }
        }
        r.register("Squeeze", opsets: 13...Int.max) { _, _ in
            return { inputs, _ in
                let axes = try inputs.optional(1).map { try ints($0, "Squeeze axes") }
                return [try squeeze(try inputs.required(0), axes)]
            }
        }
        r.register("Unsqueeze", opsets: 1...12) { node, _ in
            guard let axes = try node.ints("axes") else { throw KernelError("Unsqueeze needs an 'axes' attribute before opset 13") }
            return { inputs, _ in [try unsqueeze(try inputs.required(0), axes)] }
        }
        r.register("Unsqueeze", opsets: 13...Int.max) { _, _ in
            return { inputs, _ in
                let axes = try ints(try inputs.required(1), "Unsqueeze axes")
                return [try unsqueeze(try inputs.required(0), axes)]
            }
        }
    }
}
