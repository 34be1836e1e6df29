import BerthONNX
import BerthTensor

/// Transpose, Slice, Expand and Tile: each builds per-axis source tables for the strided gather.
extension TensorFamily {
    /// Transposes `x` by `perm` (nil reverses the axes).
    static func transpose(_ x: Tensor, perm permAttr: [Int]?, pool: ThreadPool) throws -> Tensor {
        let r = x.rank
        let perm = permAttr ?? Array((0..<r).reversed())
        guard perm.count == r, Set(perm).count == r, perm.allSatisfy({ $0 >= 0 && $0 < r }) else {
            throw KernelError("Transpose perm \(perm) is not a permutation of the \(r) input axes (shape \(x.shape))")
        }
        if perm == Array(0..<r) { return x }
        let strides = TensorFamily.strides(x.shape)
        let outShape = perm.map { x.shape[$0] }
        let axes = perm.map { TFAxis.affine(offset: 0, stride: strides[$0]) }
        return try gather(x.storage, dims: outShape, axes: axes, outShape: outShape, pool: pool)
    }

    /// Slice with already-read starts/ends/axes/steps (ONNX clamping rules; negative steps allowed).
    static func slice(_ x: Tensor, starts: [Int], ends: [Int], axes axesIn: [Int]?, steps stepsIn: [Int]?,
                      pool: ThreadPool) throws -> Tensor {
        let r = x.rank
        guard starts.count == ends.count else {
            throw KernelError("Slice starts \(starts) and ends \(ends) differ in length")
        }
        let axes = try TensorFamily.axes(axesIn ?? Array(0..<starts.count), rank: r, "Slice axes")
        guard axes.count == starts.count else { throw KernelError("Slice axes \(axes) and starts \(starts) differ in length") }
        let steps = stepsIn ?? [Int](repeating: 1, count: starts.count)
        guard steps.count == starts.count else { throw KernelError("Slice steps \(steps) and starts \(starts) differ in length") }
        var begin = [Int](repeating: 0, count: r)
        var step = [Int](repeating: 1, count: r)
        var outShape = x.shape
        for (i, a) in axes.enumerated() {
            let dim = x.shape[a]
            // Int.min would overflow on negation; any step beyond the dimension behaves the same.
            let st = max(steps[i], -Int.max)
            guard st != 0 else { throw KernelError("Slice step for axis \(a) is 0") }
            var s = starts[i], e = ends[i]
            if s < 0 { s = s &+ dim }
            if e < 0 { e = e &+ dim }
            let n: Int
            if st > 0 {
                s = min(max(s, 0), dim)
                e = min(max(e, 0), dim)
                n = e > s ? (e - s - 1) / st + 1 : 0
            } else {
                s = min(max(s, 0), dim - 1)
                e = min(max(e, -1), dim - 1)
                n = s > e ? (s - e - 1) / (-st) + 1 : 0
            }
            begin[a] = max(s, 0)
            step[a] = st
            outShape[a] = n
        }
        let strides = TensorFamily.strides(x.shape)
        let tables = (0..<r).map { TFAxis.affine(offset: begin[$0] &* strides[$0], stride: step[$0] &* strides[$0]) }
        return try gather(x.storage, dims: outShape, axes: tables, outShape: outShape, pool: pool)
    }

    /// Broadcasts `x` to `target` (bidirectionally, as Expand does).
    static func expand(_ x: Tensor, to target: [Int], pool: ThreadPool) throws -> Tensor {
        guard target.allSatisfy({ $0 >= 0 }), let outShape = Shape.broadcast(x.shape, target) else {
            throw KernelError("cannot expand shape \(x.shape) to \(target)")
        }
        _ = try count(outShape)
        if outShape == x.shape { return x }
        let strides = TensorFamily.strides(x.shape)
        let lead = outShape.count - x.rank
        let axes = (0..<outShape.count).map { k -> TFAxis in
            let a = k - lead
            guard a >= 0, x.shape[a] != 1 else { return .affine(offset: 0, stride: 0) }
            return .affine(offset: 0, stride: strides[a])
        }
        return try gather(x.storage, dims: outShape, axes: axes, outShape: outShape, pool: pool)
    }

    /// Tile: viewed as [r0, d0, r1, d1, ...] with zero stride on the repeat axes.
    static func tile(_ x: Tensor, repeats: [Int], pool: ThreadPool) throws -> Tensor {
        guard repeats.count == x.rank else {
            throw KernelError("Tile repeats \(repeats) must have one entry per input axis (shape \(x.shape))")
        }
        guard repeats.allSatisfy({ $0 >= 0 }) else { throw KernelError("Tile repeats \(repeats) must not be negative") }
        var outShape: [Int] = []
        var dims: [Int] = []
        var axes: [TFAxis] = []
        let strides = TensorFamily.strides(x.shape)
        for k in 0..<x.rank {
            let (p, o) = x.shape[k].multipliedReportingOverflow(by: repeats[k])
            guard !o else { throw KernelError("Tile output is too large") }
            outShape.append(p)
            dims += [repeats[k], x.shape[k]]
            axes += [.affine(offset: 0, stride: 0), .affine(offset: 0, stride: strides[k])]
        }
        _ = try count(outShape)
        return try gather(x.storage, dims: dims, axes: axes, outShape: outShape, pool: pool)
    }

    static func registerDataMovementOps(_ r: inout KernelRegistry) {
        r.register("Transpose") { node, _ in
            let perm = try node.ints("perm")
            return { inputs, ctx in [try transpose(try inputs.required(0), perm: perm, pool: ctx.pool)] }
        }

        r.register("Slice", opsets: 1...9) { node, _ in
            guard let starts = try node.ints("starts"), let ends = try node.ints("ends") else {
                throw KernelError("Slice needs 'starts' and 'ends' attributes before opset 10")
            }
            let axes = try node.ints("axes")
            return { inputs, ctx in
                [try slice(try inputs.required(0), starts: starts, ends: ends, axes: axes, steps: nil, pool: ctx.pool)]
            }
        }
        r.register("Slice", opsets: 10...Int.max) { _, _ in
            return { inputs, ctx in
                let starts = try ints(try inputs.required(1), "Slice starts")
                let ends = try ints(try inputs.required(2), "Slice ends")
                let axes = try inputs.optional(3).map { try ints($0, "Slice axes") }
                let steps = try inputs.optional(4).map { try ints($0, "Slice steps") }
                return [try slice(try inputs.required(0), starts: starts, ends: ends, axes: axes, steps: steps, pool: ctx.pool)]
            }
        }

        r.register("Expand", opsets: 8...Int.max) { _, _ in
            return { inputs, ctx in
                let shape = try ints(try inputs.required(1), "Expand shape")
                return [try expand(try inputs.required(0), to: shape, pool: ctx.pool)]
            }
        }

        r.register("Tile", opsets: 6...Int.max) { _, _ in
            return { inputs, ctx in
                let repeats = try ints(try inputs.required(1), "Tile repeats")
                return [try tile(try inputs.required(0), repeats: repeats, pool: ctx.pool)]
            }
        }
    }
}
