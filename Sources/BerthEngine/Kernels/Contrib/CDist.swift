import BerthONNX
import BerthTensor

extension KernelRegistry {
    /// CDist: pairwise distances between the rows of A [N, K] and B [M, K], [N, M], by `metric`
    /// "sqeuclidean" (default) or "euclidean"; float or double (skl2onnx's nearest-neighbour and
    /// Gaussian-process exports).
    mutating func registerContribCDist() {
        register("CDist", domain: ContribOps.domain, opsets: ContribOps.opsets) { node, _ in
            let metric = try node.string("metric", default: "sqeuclidean")
            guard metric == "sqeuclidean" || metric == "euclidean" else {
                throw KernelError("CDist metric must be sqeuclidean or euclidean, got '\(metric)'")
            }
            return { inputs, _ in
                let a = try inputs.required(0), b = try inputs.required(1)
                guard a.rank == 2, b.rank == 2, a.shape[1] == b.shape[1] else {
                    throw KernelError("CDist needs A [N, K] and B [M, K], got \(a.shape) and \(b.shape)")
                }
                guard a.dtype == b.dtype, a.dtype == .float32 || a.dtype == .float64 else {
                    throw KernelError("CDist inputs must both be float or double, got \(a.dtype) and \(b.dtype)")
                }
                let (n, m, k) = (a.shape[0], b.shape[0], a.shape[1])
                let count = try TensorFamily.count([n, m])
                let av = a.doubles, bv = b.doubles
                var d = [Double](repeating: 0, count: count)
                for i in 0..<n {
                    for j in 0..<m {
                        var s = 0.0
                        for c in 0..<k { let t = av[i * k + c] - bv[j * k + c]; s += t * t }
                        d[i * m + j] = metric == "euclidean" ? s.squareRoot() : s
                    }
                }
                let storage: TensorStorage = a.dtype == .float64 ? .float64(d) : .float32(d.map { Float($0) })
                return [Tensor(unchecked: [n, m], storage: storage)]
            }
        }
    }
}
