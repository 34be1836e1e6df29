import BerthONNX
import BerthTensor

/// Runs `body(row, scores)` for every row of X over the forest, splitting rows across the pool.
private func forEachRow(_ forest: TreeForest, _ x: Tensor, outputs: Int, aggregate: TreeForest.Aggregate = .sum,
                        pool: ThreadPool, _ body: (Int, inout TreeScores) -> Void) throws -> Int {
    let m = try MLMatrix(x)
    guard forest.maxFeature < m.features else {
        throw KernelError("X has \(m.features) features but the trees read feature \(forest.maxFeature)")
    }
    let xs = try mlDoubles(x)
    // ORT accumulates in the threshold type: float unless the model or the input is double.
    let roundToFloat = !(forest.doublePrecision || x.dtype == .float64)
    let work = forest.roots.count * Swift.max(1, m.rows)
    // Rows go through the forest in blocks, trees outermost, so one tree's nodes stay in cache
    // while a block of rows walks it (ORT's blocked evaluation does the same).
    let block = 64
    xs.withUnsafeBufferPointer { xp in
        forest.packed.withUnsafeBufferPointer { np in
            forest.withLeafWeights { w in
                let leafOf = forest.leafFinder(np.baseAddress!)
                func run(_ range: Range<Int>) {
                    var scores = TreeScores(outputs, roundToFloat: roundToFloat)
                    var bScore = [Double](repeating: 0, count: block * outputs)
                    var bHas = [Bool](repeating: false, count: block * outputs)
                    bScore.withUnsafeMutableBufferPointer { sp in
                        bHas.withUnsafeMutableBufferPointer { hp in
                            var first = range.lowerBound
                            while first < range.upperBound {
                                let n = Swift.min(block, range.upperBound - first)
                                sp.baseAddress!.update(repeating: 0, count: n * outputs)
                                hp.baseAddress!.update(repeating: false, count: n * outputs)
                                for root in forest.roots {
                                    for r in 0..<n {
                                        let leaf = leafOf(root, xp.baseAddress! + (first + r) * m.features)
                                        TreeScores.add(w, leaf: leaf, aggregate, roundToFloat: roundToFloat,
                                                       score: sp.baseAddress! + r * outputs, has: hp.baseAddress! + r * outputs)
                                    }
                                }
                                for r in 0..<n {
                                    for j in 0..<outputs { scores.score[j] = sp[r * outputs + j]; scores.has[j] = hp[r * outputs + j] }
                                    body(first + r, &scores)
                                }
                                first += n
                            }
                        }
                    }
                }
                if work < 4096 || m.rows < 2 { run(0..<m.rows) } else { pool.parallelFor(m.rows, minChunk: 16, run) }
            }
        }
    }
    return m.rows
}

/// ai.onnx.ml TreeEnsembleRegressor (opsets 1 and 3), aggregated as ORT's TreeAggregator*.
struct TreeEnsembleRegressorKernel {
    let forest: TreeForest
    let targets: Int
    let aggregate: TreeForest.Aggregate
    let base: [Double]
    let transform: PostTransform

    init(forest: TreeForest, targets: Int, aggregate: TreeForest.Aggregate, base: [Double], transform: PostTransform) {
        self.forest = forest
        self.targets = targets
        self.aggregate = aggregate
        self.base = base
        self.transform = transform
    }

    init(_ node: Node) throws {
        targets = try node.int("n_targets", default: 1)
        guard targets > 0 else { throw KernelError("n_targets must be positive") }
        forest = try TreeForest(node, prefix: "target", outputs: targets)
        let a = try node.string("aggregate_function", default: "SUM")
        guard let agg = TreeForest.Aggregate(rawValue: a) else { throw KernelError("unknown aggregate_function '\(a)'") }
        aggregate = agg
        base = try treeFloats(node, "base_values").values
        transform = try PostTransform(node)
    }

    func run(_ x: Tensor, pool: ThreadPool) throws -> Tensor {
        let m = try MLMatrix(x)
        var out = [Float](repeating: 0, count: m.rows * targets)
        let trees = Double(forest.roots.count)
        let t = targets, agg = aggregate, base = base, transform = transform, forest = forest
        try out.withUnsafeMutableBufferPointer { op in
            let o = op.baseAddress!
            _ = try forEachRow(forest, x, outputs: t, aggregate: agg, pool: pool) { r, s in
                if t == 1 {
                    let origin = base.count == 1 ? base[0] : 0
                    var v: Double
                    switch agg {
                    case .sum: v = s.r(s.score[0] + origin)
                    case .average: v = s.r(s.r(s.score[0] / trees) + origin)
                    case .min, .max: v = s.has[0] ? s.r(s.score[0] + origin) : origin
                    }
                    o[r] = transform == .probit ? mlProbit(Float(v)) : Float(v)
                    return
                }
                let useBase = base.count == t
                var row = [Float](repeating: 0, count: t)
                for j in 0..<t {
                    switch agg {
                    case .sum: row[j] = Float(useBase ? s.r(s.score[j] + base[j]) : s.score[j])
                    case .average: row[j] = Float(useBase ? s.r(s.r(s.score[j] / trees) + base[j]) : s.r(s.score[j] / trees))
                    case .min, .max: row[j] = Float(s.r((useBase ? base[j] : 0) + (s.has[j] ? s.score[j] : 0)))
                    }
                }
                mlWriteScores(row, transform, second: .none, into: o + r * t)
            }
        }
        return Tensor(unchecked: [m.rows, targets], storage: .float32(out))
    }
}

/// ai.onnx.ml TreeEnsembleClassifier (opsets 1 and 3): summed class weights, then ORT's
/// binary/multiclass label rules and post transform.
struct TreeEnsembleClassifierKernel {
    let forest: TreeForest
    let labels: ClassLabels
    let base: [Double]
    let transform: PostTransform
    let binaryCase: Bool
    let allPositive: Bool

    init(_ node: Node) throws {
        labels = try ClassLabels(node, intsKey: "classlabels_int64s")
        guard labels.count >= 2 else { throw KernelError("TreeEnsembleClassifier needs at least two class labels") }
        forest = try TreeForest(node, prefix: "class", outputs: labels.count)
        base = try treeFloats(node, "base_values").values
        transform = try PostTransform(node)
        binaryCase = labels.count == 2 && Set(forest.weightTarget).count == 1
        allPositive = forest.weightValue.allSatisfy { $0 >= 0 }
    }

    func run(_ x: Tensor, pool: ThreadPool) throws -> [Tensor] {
        let m = try MLMatrix(x)
        let c = labels.count
        var out = [Float](repeating: 0, count: m.rows * c)
        var chosen = [ChosenLabel](repeating: .index(0), count: m.rows)
        try out.withUnsafeMutableBufferPointer { op in
            try chosen.withUnsafeMutableBufferPointer { cp in
                let o = op.baseAddress!, lab = cp.baseAddress!
                _ = try forEachRow(forest, x, outputs: c, pool: pool) { r, s in
                    lab[r] = finalize(&s, into: o + r * c)
                }
            }
        }
        return [labels.tensor(chosen), Tensor(unchecked: [m.rows, c], storage: .float32(out))]
    }

    /// ORT's TreeAggregatorClassifier::FinalizeScores for one row.
    private func finalize(_ s: inout TreeScores, into z: UnsafeMutablePointer<Float>) -> ChosenLabel {
        let c = labels.count
        if c > 2 {
            for k in 0..<Swift.min(base.count, c) {
                if !s.has[k] { s.has[k] = true; s.score[k] = base[k] } else { s.score[k] = s.r(s.score[k] + base[k]) }
            }
            var maxClass = -1
            var maxWeight = 0.0
            for k in 0..<c where s.has[k] && (maxClass == -1 || s.score[k] > maxWeight) { maxClass = k; maxWeight = s.score[k] }
            mlWriteScores(s.score.map { Float($0) }, transform, second: .none, into: z)
            return .index(Swift.max(0, maxClass))
        }
        var size = 2
        var second = SecondClass.none
        if base.count == 2 {
            if s.has[1] {
                s.score[1] = s.r(base[1] + s.score[0]); s.score[0] = -s.score[1]; s.has[1] = true
            } else {
                s.score[1] = s.r(s.score[1] + base[1]); s.score[0] = s.r(s.score[0] + base[0])
            }
        } else if base.count == 1 {
            s.score[0] = s.r(s.score[0] + base[0])
            if !s.has[1] { size = 1 }
        } else if base.isEmpty {
            second = .negate
            if !s.has[1] { size = 1 }
        }
        let useSecond = size == 2 && s.has[1]
        let positive = useSecond ? s.score[1] : (s.has[0] ? s.score[0] : 0)
        let label: ChosenLabel
        if binaryCase {
            if allPositive {
                label = .index(positive > 0.5 ? 1 : 0); second = .complement
            } else {
                label = .index(positive > 0 ? 1 : 0); second = .negate
            }
        } else if labels.usesStrings {
            label = .index(positive > 0 ? 1 : 0)
        } else {
            label = .literal(positive > 0 ? 1 : 0)
        }
        mlWriteScores(s.score.prefix(size).map { Float($0) }, transform, second: second, into: z)
        return label
    }
}
