import BerthONNX
import BerthTensor

/// A list attribute of the tree ensembles: `key` (floats), or its `key_as_tensor` twin (opset 3,
/// usually doubles); `fromTensor` tells which.
func treeFloats(_ node: Node, _ key: String) throws -> (values: [Double], fromTensor: Bool) {
    if let t = try node.tensor("\(key)_as_tensor") { return (t.doubles, true) }
    return ((try node.floats(key) ?? []).map { Double($0) }, false)
}

/// A forest flattened into arrays (ai.onnx.ml TreeEnsembleRegressor/Classifier attributes), with
/// the leaf weights attached to their leaves. Node references are validated once at load so that
/// evaluation cannot leave the forest or loop.
struct TreeForest {
    enum Mode: UInt8 { case leq, lt, gte, gt, eq, neq, member, leaf }
    enum Aggregate: String { case sum = "SUM", average = "AVERAGE", min = "MIN", max = "MAX" }

    var feature: [Int32] = []
    var threshold: [Double] = []
    var mode: [Mode] = []
    var trueChild: [Int32] = []
    var falseChild: [Int32] = []
    var missingTrue: [Bool] = []
    /// For `.member` nodes, the index into `sets` (opset-5 TreeEnsemble set membership).
    var setIndex: [Int32] = []
    var sets: [Set<Double>] = []
    /// For node i, its weights are weightTarget/weightValue[weightStart[i] ..< weightStart[i + 1]].
    var weightStart: [Int32] = []
    var weightTarget: [Int32] = []
    var weightValue: [Double] = []
    var roots: [Int32] = []
    /// Whether thresholds/weights came as double tensors (ORT then accumulates in double).
    var doublePrecision = false
    /// Highest feature index used, to check X's width.
    var maxFeature = -1

    /// Reads the forest; `prefix` is "target" for regressors and "class" for classifiers.
    init(_ node: Node, prefix: String, outputs: Int) throws {
        let treeIds = try node.ints("nodes_treeids") ?? []
        let nodeIds = try node.ints("nodes_nodeids") ?? []
        let features = try node.ints("nodes_featureids") ?? []
        let modes = try node.strings("nodes_modes") ?? []
        let trues = try node.ints("nodes_truenodeids") ?? []
        let falses = try node.ints("nodes_falsenodeids") ?? []
        let missing = try node.ints("nodes_missing_value_tracks_true") ?? []
        let (values, valuesAreDouble) = try treeFloats(node, "nodes_values")
        let n = treeIds.count
        guard n > 0 else { throw KernelError("the ensemble has no nodes") }
        for (name, c) in [("nodes_nodeids", nodeIds.count), ("nodes_featureids", features.count), ("nodes_modes", modes.count),
                          ("nodes_truenodeids", trues.count), ("nodes_falsenodeids", falses.count), ("nodes_values", values.count)]
        where c != n {
            throw KernelError("\(name) has \(c) entries but nodes_treeids has \(n)")
        }
        struct Key: Hashable { var tree: Int; var node: Int }
        var index: [Key: Int] = [:]
        index.reserveCapacity(n)
        for i in 0..<n {
            let key = Key(tree: treeIds[i], node: nodeIds[i])
            guard index[key] == nil else { throw KernelError("node \(nodeIds[i]) of tree \(treeIds[i]) is defined twice") }
            index[key] = i
        }
        feature.reserveCapacity(n)
        for i in 0..<n {
            let m: Mode
            switch modes[i] {
            case "BRANCH_LEQ": m = .leq
            case "BRANCH_LT": m = .lt
            case "BRANCH_GTE": m = .gte
            case "BRANCH_GT": m = .gt
            case "BRANCH_EQ": m = .eq
            case "BRANCH_NEQ": m = .neq
            case "LEAF": m = .leaf
            default: throw KernelError("unknown node mode '\(modes[i])'")
            }
            mode.append(m)
            setIndex.append(-1)
            threshold.append(values[i])
            missingTrue.append(i < missing.count && missing[i] == 1)
            if m == .leaf {
                feature.append(0); trueChild.append(-1); falseChild.append(-1)
                continue
            }
            guard features[i] >= 0, features[i] < Int(Int32.max) else { throw KernelError("node \(nodeIds[i]) of tree \(treeIds[i]) has feature id \(features[i])") }
            maxFeature = Swift.max(maxFeature, features[i])
            feature.append(Int32(features[i]))
            for (child, list) in [(trues[i], 0), (falses[i], 1)] {
                guard let c = index[Key(tree: treeIds[i], node: child)], c != i else {
                    throw KernelError("node \(nodeIds[i]) of tree \(treeIds[i]) points to missing node \(child)")
                }
                if list == 0 { trueChild.append(Int32(c)) } else { falseChild.append(Int32(c)) }
            }
        }
        // Roots are the first node of each run of a tree id, as in ORT.
        var previous: Int?
        for i in 0..<n where treeIds[i] != previous { roots.append(Int32(i)); previous = treeIds[i] }
        try checkAcyclic()

        let wIds = try node.ints("\(prefix)_ids") ?? []
        let wNodes = try node.ints("\(prefix)_nodeids") ?? []
        let wTrees = try node.ints("\(prefix)_treeids") ?? []
        let (wValues, weightsAreDouble) = try treeFloats(node, "\(prefix)_weights")
        doublePrecision = valuesAreDouble || weightsAreDouble
        guard wIds.count == wNodes.count, wIds.count == wTrees.count, wIds.count == wValues.count else {
            throw KernelError("\(prefix)_ids, _nodeids, _treeids and _weights differ in length")
        }
        var perNode = [[(Int32, Double)]](repeating: [], count: n)
        for k in 0..<wIds.count {
            guard let i = index[Key(tree: wTrees[k], node: wNodes[k])] else {
                throw KernelError("weight \(k) refers to missing node \(wNodes[k]) of tree \(wTrees[k])")
            }
            guard wIds[k] >= 0, wIds[k] < outputs else { throw KernelError("weight \(k) targets output \(wIds[k]) of \(outputs)") }
            perNode[i].append((Int32(wIds[k]), wValues[k]))
        }
        weightStart.reserveCapacity(n + 1)
        for list in perNode {
            weightStart.append(Int32(weightTarget.count))
            for (t, v) in list { weightTarget.append(t); weightValue.append(v) }
        }
        weightStart.append(Int32(weightTarget.count))
        pack()
    }

    /// Rejects node links that form a cycle (a walk would never end). Shared children are fine:
    /// onnxmltools writes LightGBM categorical splits as BRANCH_EQ chains sharing a true child.
    func checkAcyclic() throws {
        let n = mode.count
        var indegree = [Int32](repeating: 0, count: n)
        for i in 0..<n where mode[i] != .leaf {
            indegree[Int(trueChild[i])] += 1
            indegree[Int(falseChild[i])] += 1
        }
        // Kahn's algorithm: every node is removed only if no cycle holds it.
        var ready = (0..<n).filter { indegree[$0] == 0 }
        var removed = 0
        while let i = ready.popLast() {
            removed += 1
            guard mode[i] != .leaf else { continue }
            for c in [Int(trueChild[i]), Int(falseChild[i])] {
                indegree[c] -= 1
                if indegree[c] == 0 { ready.append(c) }
            }
        }
        guard removed == n else { throw KernelError("the tree nodes' links form a cycle") }
    }

    /// One node as evaluation reads it: everything a step needs in one cache line.
    struct PackedNode {
        var threshold: Double
        var feature: Int32
        var trueChild: Int32
        var falseChild: Int32
        var setIndex: Int32
        var mode: Mode
        var missingTrue: Bool
    }

    /// The nodes packed for evaluation (built by ``pack()`` after loading).
    var packed: [PackedNode] = []

    /// The split mode of every interior node when they all share one of <=, <, >=, > and no node
    /// sends missing values its own way: evaluation then runs a loop without the mode switch.
    var uniformMode: Mode? = nil

    mutating func pack() {
        let interior = Set(mode.filter { $0 != .leaf })
        if interior.count == 1, let m = interior.first, [.leq, .lt, .gte, .gt].contains(m), !missingTrue.contains(true) {
            uniformMode = m
        }
        packed = (0..<mode.count).map {
            PackedNode(threshold: threshold[$0], feature: feature[$0], trueChild: trueChild[$0], falseChild: falseChild[$0],
                       setIndex: setIndex[$0], mode: mode[$0], missingTrue: missingTrue[$0])
        }
    }

    /// The leaf that row `x` reaches in the tree rooted at `root`.
    @inline(__always)
    func leaf(_ root: Int32, _ x: UnsafePointer<Double>, _ nodes: UnsafePointer<PackedNode>) -> Int {
        var i = Int(root)
        while true {
            let node = nodes[i]
            let v = x[Int(node.feature)]
            let t = node.threshold
            let go: Bool
            switch node.mode {
            case .leq: go = v <= t
            case .lt: go = v < t
            case .gte: go = v >= t
            case .gt: go = v > t
            case .eq: go = v == t
            case .neq: go = v != t
            case .member: go = sets[Int(node.setIndex)].contains(v)
            case .leaf: return i
            }
            i = Int(go || (node.missingTrue && v.isNaN) ? node.trueChild : node.falseChild)
        }
    }
}

/// A split comparison known at compile time, for the uniform-mode evaluation loops.
protocol SplitRule { static func go(_ v: Double, _ t: Double) -> Bool }
enum LEQRule: SplitRule { @inline(__always) static func go(_ v: Double, _ t: Double) -> Bool { v <= t } }
enum LTRule: SplitRule { @inline(__always) static func go(_ v: Double, _ t: Double) -> Bool { v < t } }
enum GTERule: SplitRule { @inline(__always) static func go(_ v: Double, _ t: Double) -> Bool { v >= t } }
enum GTRule: SplitRule { @inline(__always) static func go(_ v: Double, _ t: Double) -> Bool { v > t } }

extension TreeForest {
    /// The leaf row `x` reaches when every interior node splits by `R` (see ``uniformMode``).
    @inline(__always)
    func leaf<R: SplitRule>(_: R.Type, _ root: Int32, _ x: UnsafePointer<Double>, _ nodes: UnsafePointer<PackedNode>) -> Int {
        var i = Int(root)
        while true {
            let node = nodes[i]
            if node.mode == .leaf { return i }
            i = Int(R.go(x[Int(node.feature)], node.threshold) ? node.trueChild : node.falseChild)
        }
    }

    /// The leaf finder for this forest: a uniform-mode loop when possible, else the general one.
    func leafFinder(_ nodes: UnsafePointer<PackedNode>) -> (Int32, UnsafePointer<Double>) -> Int {
        switch uniformMode {
        case .leq?: return { self.leaf(LEQRule.self, $0, $1, nodes) }
        case .lt?: return { self.leaf(LTRule.self, $0, $1, nodes) }
        case .gte?: return { self.leaf(GTERule.self, $0, $1, nodes) }
        case .gt?: return { self.leaf(GTRule.self, $0, $1, nodes) }
        default: return { self.leaf($0, $1, nodes) }
        }
    }
}

/// The leaf weight arrays as raw pointers, valid inside ``TreeForest/withLeafWeights(_:)``.
struct LeafWeights {
    let start: UnsafePointer<Int32>
    let target: UnsafePointer<Int32>
    let value: UnsafePointer<Double>
}

extension TreeForest {
    func withLeafWeights<R>(_ body: (LeafWeights) throws -> R) rethrows -> R {
        // Sentinels stand in for empty arrays (no base address); a forest without weights never reads them.
        let targets = weightTarget.isEmpty ? [0] : weightTarget
        let values = weightValue.isEmpty ? [0] : weightValue
        return try weightStart.withUnsafeBufferPointer { s in
            try targets.withUnsafeBufferPointer { t in
                try values.withUnsafeBufferPointer { v in
                    try body(LeafWeights(start: s.baseAddress!, target: t.baseAddress!, value: v.baseAddress!))
                }
            }
        }
    }
}

/// Per-output running scores of one row, with ORT's has-score flags and float rounding.
struct TreeScores {
    var score: [Double]
    var has: [Bool]
    let roundToFloat: Bool

    init(_ n: Int, roundToFloat: Bool) {
        score = [Double](repeating: 0, count: n)
        has = [Bool](repeating: false, count: n)
        self.roundToFloat = roundToFloat
    }

    @inline(__always) func r(_ v: Double) -> Double { roundToFloat ? Double(Float(v)) : v }

    /// Adds a leaf's weights under `aggregate` into one row's scores (`score`/`has` point at the
    /// row's first output).
    @inline(__always)
    static func add(_ w: LeafWeights, leaf: Int, _ aggregate: TreeForest.Aggregate, roundToFloat: Bool,
                    score: UnsafeMutablePointer<Double>, has: UnsafeMutablePointer<Bool>) {
        var k = Int(w.start[leaf])
        let hi = Int(w.start[leaf + 1])
        while k < hi {
            let t = Int(w.target[k]), v = w.value[k]
            switch aggregate {
            case .sum, .average:
                let s = score[t] + v
                score[t] = roundToFloat ? Double(Float(s)) : s
            case .min: score[t] = !has[t] || v < score[t] ? v : score[t]
            case .max: score[t] = !has[t] || v > score[t] ? v : score[t]
            }
            has[t] = true
            k += 1
        }
    }
}
