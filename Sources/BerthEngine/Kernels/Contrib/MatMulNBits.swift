import BerthONNX
import BerthTensor

extension KernelRegistry {
    /// MatMulNBits (com.microsoft): Y = A [..., K] @ Wᵀ (+ bias [N]) where W [N, K] is stored
    /// block-quantized: B uint8 [N, ⌈K / block_size⌉, block_size · bits / 8], low bits first;
    /// scales [N · blocks]; zero_points packed like B ([N, ⌈blocks · bits / 8⌉], uint8) or one
    /// float per block, default 2^(bits-1). W is dequantized once per run, then one sgemm.
    /// bits 2, 4 and 8; `g_idx` (act-order) is not supported.
    mutating func registerContribMatMulNBits() {
        register("MatMulNBits", domain: ContribOps.domain, opsets: ContribOps.opsets) { node, _ in
            let k = try node.int("K"), n = try node.int("N")
            let bits = try node.int("bits", default: 4), blockSize = try node.int("block_size")
            guard k > 0, n > 0, [2, 4, 8].contains(bits), blockSize >= 16, blockSize & (blockSize - 1) == 0 else {
                throw KernelError("MatMulNBits needs K, N > 0, bits 2, 4 or 8 and a power-of-two block_size >= 16, got K \(k), N \(n), bits \(bits), block_size \(blockSize)")
            }
            let blocks = (k + blockSize - 1) / blockSize
            let blob = blockSize * bits / 8
            return { inputs, _ in
                let a = try inputs.required(0), q = try inputs.required(1), sc = try inputs.required(2)
                guard inputs.optional(4) == nil else { throw KernelError("MatMulNBits with g_idx is not supported") }
                guard case let .uint8(qv) = q.storage, qv.count == n * blocks * blob else {
                    throw KernelError("MatMulNBits B must be uint8 [\(n), \(blocks), \(blob)], got \(q.dtype)\(q.shape)")
                }
                let scales = try contribFloats(sc, "scales")
                guard scales.count == n * blocks else { throw KernelError("MatMulNBits scales must have \(n * blocks) elements, got \(sc.shape)") }
                let levels = (1 << bits) - 1, perByte = 8 / bits
                var zero: (Int, Int) -> Float = { _, _ in Float(1 << (bits - 1)) }
                if let zp = inputs.optional(3) {
                    switch zp.storage {
                    case let .uint8(z):
                        let stride = (blocks * bits + 7) / 8
                        guard z.count == n * stride else { throw KernelError("MatMulNBits zero_points must be uint8 [\(n), \(stride)], got \(zp.shape)") }
                        zero = { col, blk in Float((Int(z[col * stride + blk / perByte]) >> ((blk % perByte) * bits)) & levels) }
                    case let .float32(z):
                        guard z.count == n * blocks else { throw KernelError("MatMulNBits zero_points must have \(n * blocks) floats, got \(zp.shape)") }
                        zero = { col, blk in z[col * blocks + blk] }
                    default: throw KernelError("MatMulNBits zero_points must be uint8 or float, got \(zp.dtype)")
                    }
                }
                let av = try contribFloats(a, "A")
                guard a.rank >= 1, a.shape.last == k else { throw KernelError("MatMulNBits A must be [..., \(k)], got \(a.shape)") }
                // W [N, K] dequantized.
                var w = [Float](repeating: 0, count: try TensorFamily.count([n, k]))
                for col in 0..<n {
                    for blk in 0..<blocks {
                        let s = scales[col * blocks + blk], z = zero(col, blk)
                        let byteBase = (col * blocks + blk) * blob
                        for i in 0..<min(blockSize, k - blk * blockSize) {
                            let v = (Int(qv[byteBase + i / perByte]) >> ((i % perByte) * bits)) & levels
                            w[col * k + blk * blockSize + i] = (Float(v) - z) * s
                        }
                    }
                }
                let m = av.count / k
                let outShape = Array(a.shape.dropLast()) + [n]
                var y = [Float](repeating: 0, count: try TensorFamily.count(outShape))
                if let bias = inputs.optional(5) {
                    let bv = try contribFloats(bias, "bias")
                    guard bv.count == n else { throw KernelError("MatMulNBits bias must have \(n) elements, got \(bias.shape)") }
                    for r in 0..<m { for c in 0..<n { y[r * n + c] = bv[c] } }
                }
                if m > 0 {
                    av.withUnsafeBufferPointer { ap in w.withUnsafeBufferPointer { wp in y.withUnsafeMutableBufferPointer { yp in
                        BLAS.sgemm(transA: false, transB: true, m: m, n: n, k: k, alpha: 1, a: ap.baseAddress!, lda: k,
                                   b: wp.baseAddress!, ldb: k, beta: 1, c: yp.baseAddress!, ldc: n)
                    } } }
                }
                return [Tensor(unchecked: outShape, storage: .float32(y))]
            }
        }
    }
}
