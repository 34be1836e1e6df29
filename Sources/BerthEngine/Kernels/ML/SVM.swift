import BerthONNX
import BerthTensor
import Foundation

/// The kernel function shared by SVMClassifier and SVMRegressor.
struct SVMKernelFunction {
    enum Kind: String { case linear = "LINEAR", poly = "POLY", rbf = "RBF", sigmoid = "SIGMOID" }
    var kind: Kind
    var gamma: Float = 0
    var coef0: Float = 0
    var degree: Float = 0

    init(_ node: Node) throws {
        let name = try node.string("kernel_type", default: "LINEAR")
        guard let k = Kind(rawValue: name) else { throw KernelError("unknown kernel_type '\(name)'") }
        kind = k
        if let p = try node.floats("kernel_params"), !p.isEmpty {
            guard p.count >= 3 else { throw KernelError("kernel_params needs [gamma, coef0, degree], got \(p.count) values") }
            gamma = p[0]; coef0 = p[1]; degree = p[2]
        }
    }

    /// K(x_r, v_j) for every row r of `x` [rows, k] and vector j of `v` [n, k]; `c` is the constant
    /// added for the linear kernel (ORT's `batched_kernel_dot`).
    func apply(_ x: [Float], rows: Int, k: Int, _ v: [Float], n: Int, c: Float, pool: ThreadPool? = nil) -> [Float] {
        if kind == .rbf {
            let g = gamma
            return mlPairwise(x, rows: rows, k: k, v, n: n, pool: pool) { xr, vj in
                var sum: Float = 0
                for f in 0..<k { let d = xr[f] - vj[f]; sum += d * d }
                return Foundation.exp(-g * sum)
            }
        }
        let alpha: Float = kind == .linear ? 1 : gamma
        let constant: Float = kind == .linear ? c : coef0
        var out = mlFusedGemmTransB(x, rows: rows, k: k, v, n: n, alpha: alpha, constant: constant, pool: pool)
        switch kind {
        case .poly:
            if degree == 2 { for i in out.indices { out[i] = out[i] * out[i] } }
            else if degree == 3 { for i in out.indices { out[i] = out[i] * out[i] * out[i] } }
            else { for i in out.indices { out[i] = Foundation.pow(out[i], degree) } }
        case .sigmoid:
            for i in out.indices { out[i] = Foundation.tanh(out[i]) }
        default: break
        }
        return out
    }
}

/// ai.onnx.ml SVMClassifier: libsvm one-vs-one voting (or liblinear scores), with Platt-scaled
/// pairwise probabilities combined as libsvm's `multiclass_probability` when prob_a/prob_b exist.
struct SVMClassifierKernel {
    let function: SVMKernelFunction
    let labels: ClassLabels
    let vectorsPerClass: [Int]
    let starts: [Int]
    let vectorCount: Int
    let supportVectors: [Float]
    let coefficients: [Float]
    let rho: [Float]
    let probA: [Float]
    let probB: [Float]
    let transform: PostTransform
    let allPositive: Bool
    var classes: Int { labels.count }
    var isSVC: Bool { vectorCount > 0 }

    init(_ node: Node) throws {
        var f = try SVMKernelFunction(node)
        labels = try ClassLabels(node, intsKey: "classlabels_ints")
        vectorsPerClass = try node.ints("vectors_per_class") ?? []
        supportVectors = try node.floats("support_vectors") ?? []
        coefficients = try node.floats("coefficients") ?? []
        rho = try node.floats("rho") ?? []
        probA = try node.floats("prob_a") ?? []
        probB = try node.floats("prob_b") ?? []
        transform = try PostTransform(node)
        var s: [Int] = []
        var total = 0
        for v in vectorsPerClass { guard v >= 0 else { throw KernelError("negative vectors_per_class") }; s.append(total); total += v }
        starts = s
        vectorCount = total
        allPositive = coefficients.allSatisfy { $0 >= 0 }
        let c = labels.count
        guard c >= 2 else { throw KernelError("SVMClassifier needs at least two class labels") }
        guard !coefficients.isEmpty else { throw KernelError("coefficients are empty") }
        guard probA.count == probB.count else { throw KernelError("prob_a and prob_b differ in length") }
        let pairs = c * (c - 1) / 2
        if total > 0 {
            guard vectorsPerClass.count == c else { throw KernelError("vectors_per_class has \(vectorsPerClass.count) entries for \(c) classes") }
            guard supportVectors.count % total == 0 else { throw KernelError("support_vectors do not split into \(total) vectors") }
            guard coefficients.count >= (c - 1) * total else { throw KernelError("coefficients too short for \(c) classes and \(total) vectors") }
            guard rho.count >= pairs else { throw KernelError("rho needs \(pairs) values") }
            guard probA.isEmpty || probA.count >= pairs else { throw KernelError("prob_a needs \(pairs) values") }
        } else {
            guard coefficients.count % c == 0, !rho.isEmpty else { throw KernelError("linear SVM needs coefficients [classes, features] and rho") }
            f.kind = .linear
        }
        function = f
    }

    func run(_ x: Tensor, pool: ThreadPool? = nil) throws -> [Tensor] {
        let m = try MLMatrix(x)
        let c = classes
        let features = isSVC ? supportVectors.count / vectorCount : coefficients.count / c
        guard m.features == features else { throw KernelError("X has \(m.features) features but the model has \(features)") }
        let xs = try mlFloats(x)
        let pairs = c * (c - 1) / 2
        let haveProba = !probA.isEmpty
        var finalWidth = c
        var second = SecondClass.none
        var scoresPerRow = c
        if isSVC && !haveProba {
            finalWidth = c > 2 ? pairs : 2
            scoresPerRow = pairs
            if c <= 2 { second = transform == .none ? .negate : .complement }
        }
        var final = [Float](repeating: 0, count: m.rows * finalWidth)
        var pairScores: [Float] = []
        var votes: [Int] = []
        if !isSVC {
            final = function.apply(xs, rows: m.rows, k: features, coefficients, n: c, c: rho[0], pool: pool)
        } else {
            let kernels = function.apply(xs, rows: m.rows, k: features, supportVectors, n: vectorCount, c: 0, pool: pool)
            votes = [Int](repeating: 0, count: m.rows * c)
            if haveProba { pairScores = [Float](repeating: 0, count: m.rows * pairs) }
            for r in 0..<m.rows {
                let kr = r * vectorCount
                var idx = 0
                for i in 0..<(c - 1) {
                    for j in (i + 1)..<c {
                        // Products in float, sum in double: the order ORT uses.
                        var sum = 0.0
                        let rowJ = vectorCount * (j - 1), rowI = vectorCount * i
                        for t in 0..<vectorsPerClass[i] { sum += Double(coefficients[rowJ + starts[i] + t] * kernels[kr + starts[i] + t]) }
                        for t in 0..<vectorsPerClass[j] { sum += Double(coefficients[rowI + starts[j] + t] * kernels[kr + starts[j] + t]) }
                        sum += Double(rho[idx])
                        if haveProba { pairScores[r * pairs + idx] = Float(sum) } else { final[r * finalWidth + idx] = Float(sum) }
                        votes[r * c + (sum > 0 ? i : j)] += 1
                        idx += 1
                    }
                }
            }
        }
        var chosen: [ChosenLabel] = []
        chosen.reserveCapacity(m.rows)
        final.withUnsafeMutableBufferPointer { fp in
            for r in 0..<m.rows {
                let row = fp.baseAddress! + r * finalWidth
                if isSVC && haveProba {
                    var probs = [Float](repeating: 0, count: c * c)
                    var index = 0
                    for i in 0..<(c - 1) {
                        var p1 = i * c + i + 1, p2 = (i + 1) * c + i
                        for _ in (i + 1)..<c {
                            let v1 = 1 - mlLogistic(pairScores[r * pairs + index] * probA[index] + probB[index])
                            let v2 = min(max(v1, 1.0e-7), 1 - 1.0e-7)
                            probs[p1] = v2; probs[p2] = 1 - v2
                            p1 += 1; p2 += c; index += 1
                        }
                    }
                    let p = svmMulticlassProbability(c, probs)
                    for i in 0..<c { row[i] = p[i] }
                }
                var maxClass = 0
                var maxWeight: Float = 0
                if !votes.isEmpty {
                    for k in 1..<c where votes[r * c + k] > votes[r * c + maxClass] { maxClass = k }
                } else {
                    maxWeight = row[0]
                    for k in 1..<finalWidth where row[k] > maxWeight { maxWeight = row[k]; maxClass = k }
                }
                if pairs == 1 && !haveProba && ((allPositive && maxWeight >= 0.5) || (maxWeight > 0 && !allPositive)) {
                    chosen.append(.index(1))
                } else {
                    chosen.append(.index(maxClass))
                }
                let scores = Array(UnsafeBufferPointer(start: row, count: scoresPerRow))
                if scoresPerRow > 1 || transform == .probit || second != .none {
                    mlWriteScores(scores, transform, second: second, into: row)
                }
            }
        }
        return [labels.tensor(chosen), Tensor(unchecked: [m.rows, finalWidth], storage: .float32(final))]
    }
}

/// libsvm's pairwise-coupling solver (Wu, Lin and Weng 2004), in float32 as ONNX Runtime runs it.
func svmMulticlassProbability(_ k: Int, _ r: [Float]) -> [Float] {
    var q = [Float](repeating: 0, count: k * k)
    var qp = [Float](repeating: 0, count: k)
    var p = [Float](repeating: 1 / Float(k), count: k)
    let eps = 0.005 / Float(k)
    for i in 0..<k {
        for j in 0..<i {
            q[i * k + i] += r[j * k + i] * r[j * k + i]
            q[i * k + j] = q[j * k + i]
        }
        for j in (i + 1)..<k {
            q[i * k + i] += r[j * k + i] * r[j * k + i]
            q[i * k + j] = -r[j * k + i] * r[i * k + j]
        }
    }
    for _ in 0..<100 {
        var pQp: Float = 0
        for i in 0..<k {
            qp[i] = 0
            for j in 0..<k { qp[i] += q[i * k + j] * p[j] }
            pQp += p[i] * qp[i]
        }
        var maxError: Float = 0
        for i in 0..<k { maxError = max(maxError, Swift.abs(qp[i] - pQp)) }
        if maxError < eps { break }
        for i in 0..<k {
            let diff = (-qp[i] + pQp) / q[i * k + i]
            p[i] += diff
            pQp = (pQp + diff * (diff * q[i * k + i] + 2 * qp[i])) / (1 + diff) / (1 + diff)
            for j in 0..<k {
                qp[j] = (qp[j] + diff * q[i * k + j]) / (1 + diff)
                p[j] /= (1 + diff)
            }
        }
    }
    return p
}

/// ai.onnx.ml SVMRegressor: Σ coef·K(x, sv) + rho (or a linear model), ±1 for one-class SVMs.
struct SVMRegressorKernel {
    let function: SVMKernelFunction
    let vectorCount: Int
    let supportVectors: [Float]
    let coefficients: [Float]
    let rho: [Float]
    let oneClass: Bool

    init(_ node: Node) throws {
        var f = try SVMKernelFunction(node)
        vectorCount = try node.int("n_supports", default: 0)
        supportVectors = try node.floats("support_vectors") ?? []
        coefficients = try node.floats("coefficients") ?? []
        rho = try node.floats("rho") ?? []
        oneClass = try node.int("one_class", default: 0) != 0
        guard !coefficients.isEmpty, !rho.isEmpty else { throw KernelError("coefficients and rho are required") }
        if vectorCount > 0 {
            guard supportVectors.count % vectorCount == 0, coefficients.count >= vectorCount else {
                throw KernelError("support_vectors/coefficients do not match n_supports \(vectorCount)")
            }
        } else {
            f.kind = .linear
        }
        function = f
    }

    func run(_ x: Tensor, pool: ThreadPool? = nil) throws -> Tensor {
        let m = try MLMatrix(x)
        let features = vectorCount > 0 ? supportVectors.count / vectorCount : coefficients.count
        guard m.features == features else { throw KernelError("X has \(m.features) features but the model has \(features)") }
        let xs = try mlFloats(x)
        var y: [Float]
        if vectorCount > 0 {
            let k = function.apply(xs, rows: m.rows, k: features, supportVectors, n: vectorCount, c: 0, pool: pool)
            y = mlFusedGemmTransB(k, rows: m.rows, k: vectorCount, Array(coefficients.prefix(vectorCount)), n: 1, alpha: 1, constant: rho[0], pool: pool)
        } else {
            y = function.apply(xs, rows: m.rows, k: features, coefficients, n: 1, c: rho[0], pool: pool)
        }
        if oneClass { for i in y.indices { y[i] = y[i] > 0 ? 1 : -1 } }
        return Tensor(unchecked: [m.rows, 1], storage: .float32(y))
    }
}

/// alpha·(X·Vᵀ) + constant with each dot product one fused multiply-add chain along k — the order of
/// ONNX Runtime's MLAS kernels — rather than BLAS's blocked order: SVM decision values are
/// differences of large sums, and Platt scaling amplifies rounding differences into probabilities.
func mlFusedGemmTransB(_ x: [Float], rows: Int, k: Int, _ v: [Float], n: Int, alpha: Float, constant: Float,
                       pool: ThreadPool? = nil) -> [Float] {
    mlPairwise(x, rows: rows, k: k, v, n: n, pool: pool) { xr, vj in
        var acc: Float = 0
        for f in 0..<k { acc = acc.addingProduct(xr[f], vj[f]) }
        return constant != 0 ? constant.addingProduct(acc, alpha) : acc * alpha
    }
}

/// f(x_r, v_j) for every row r of `x` [rows, k] and row j of `v` [n, k], as a [rows, n] matrix;
/// rows are split across `pool` when the work is large enough to pay for it.
@inline(__always)
func mlPairwise(_ x: [Float], rows: Int, k: Int, _ v: [Float], n: Int, pool: ThreadPool? = nil,
                _ f: (UnsafePointer<Float>, UnsafePointer<Float>) -> Float) -> [Float] {
    var out = [Float](repeating: 0, count: rows * n)
    x.withUnsafeBufferPointer { xp in
        v.withUnsafeBufferPointer { vp in
            out.withUnsafeMutableBufferPointer { op in
                func run(_ range: Range<Int>) {
                    for r in range {
                        let xr = xp.baseAddress! + r * k
                        for j in 0..<n { op[r * n + j] = f(xr, vp.baseAddress! + j * k) }
                    }
                }
                if let pool, rows > 1, rows * n * max(1, k) >= 65_536 {
                    pool.parallelFor(rows, minChunk: max(1, 65_536 / max(1, n * k)), run)
                } else {
                    run(0..<rows)
                }
            }
        }
    }
    return out
}
