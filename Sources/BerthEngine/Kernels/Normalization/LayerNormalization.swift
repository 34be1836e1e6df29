import BerthONNX
import BerthTensor

/// LayerNormalization (opset 17): normalises over the axes `[axis, rank)`. Each of the
/// `outer` rows is independent; a row is processed in one go (stats, then the affine write),
/// rows spread over the pool.
private func normLayerNorm(_ inputs: [Tensor?], axis: Int, epsilon: Float, outputs: [Bool], pool: ThreadPool) throws -> [Tensor] {
    let x = try inputs.required(0)
    let scaleT = try inputs.required(1)
    let biasT = inputs.optional(2)
    guard let a = Shape.normalizeAxis(axis, rank: x.rank) else { throw KernelError("LayerNormalization axis \(axis) is out of range for shape \(x.shape)") }
    let normShape = Array(x.shape[a...])
    let len = try Shape.elementCount(normShape)
    let outer = try Shape.elementCount(Array(x.shape[..<a]))
    let xs = try normFloats(x, "X")
    let scale = try normBroadcast(try normFloats(scaleT, "Scale"), shape: scaleT.shape, to: normShape, what: "Scale")
    let bias = try biasT.map { try normBroadcast(try normFloats($0, "B"), shape: $0.shape, to: normShape, what: "B") }
    let wantStats = outputs.count > 1 && (outputs[1] || (outputs.count > 2 && outputs[2]))
    var means = [Float](repeating: 0, count: wantStats ? outer : 0)
    var invs = [Float](repeating: 0, count: wantStats ? outer : 0)
    let total = xs.count
    let y = [Float](unsafeUninitializedCapacity: total) { yb, n in
        n = total
        guard total > 0, len > 0 else { return }
        xs.withUnsafeBufferPointer { xb in
            scale.withUnsafeBufferPointer { sb in
                (bias ?? []).withUnsafeBufferPointer { bb in
                    means.withUnsafeMutableBufferPointer { mb in
                        invs.withUnsafeMutableBufferPointer { ib in
                            let xp = xb.baseAddress!, yp = yb.baseAddress!, sp = sb.baseAddress!
                            let bp = bias == nil ? nil : bb.baseAddress
                            let mp = wantStats ? mb.baseAddress : nil, ip = wantStats ? ib.baseAddress : nil
                            pool.parallelFor(outer, minChunk: max(1, 8192 / len)) { range in
                                for r in range {
                                    let (mean, inv) = normLayerNormRow(xp + r * len, yp + r * len, count: len, epsilon: epsilon,
                                                                       scale: sp, bias: bp)
                                    mp?[r] = mean
                                    ip?[r] = inv
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    var result = [normTensor(y, shape: x.shape, like: x.dtype)]
    if outputs.count > 1 {
        // Mean and InvStdDev keep the leading axes and size-1 normalised axes (stash type float).
        let statShape = Array(x.shape[..<a]) + Array(repeating: 1, count: x.rank - a)
        let statType: DType = x.dtype == .float64 ? .float64 : .float32
        func stat(_ v: [Float], _ used: Bool) -> Tensor {
            used ? normTensor(v, shape: statShape, like: statType) : normTensor([], shape: [0], like: statType)
        }
        result.append(stat(means, outputs[1]))
        if outputs.count > 2 { result.append(stat(invs, outputs[2])) }
    }
    return result
}

extension KernelRegistry {
    /// Registers LayerNormalization (opset 17+).
    mutating func registerLayerNormalizationKernels() {
        register("LayerNormalization", opsets: 17...Int.max) { node, _ in
            let axis = try node.int("axis", default: -1)
            let epsilon = try node.float("epsilon", default: 1e-5)
            let outputs = node.outputs.map { !$0.isEmpty }
            return { inputs, ctx in try normLayerNorm(inputs, axis: axis, epsilon: epsilon, outputs: outputs, pool: ctx.pool) }
        }
    }
}
