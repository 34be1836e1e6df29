import BerthONNX
import BerthTensor

extension TreeForest {
    /// Reads the opset-5 `TreeEnsemble` layout: interior nodes indexed by position, children
    /// that are either nodes or leaves (`nodes_trueleafs`/`nodes_falseleafs`), one (target,
    /// weight) per leaf, and set-membership splits whose sets are NaN-separated runs of
    /// `membership_values`. Leaves are appended after the interior nodes.
    init(v5 node: Node, targets: Int) throws {
        func doubles(_ key: String) throws -> [Double]? {
            try node.tensor(key)?.doubles
        }
        let features = try node.ints("nodes_featureids") ?? []
        let trues = try node.ints("nodes_truenodeids") ?? []
        let falses = try node.ints("nodes_falsenodeids") ?? []
        let trueLeaf = try node.ints("nodes_trueleafs") ?? []
        let falseLeaf = try node.ints("nodes_falseleafs") ?? []
        let missing = try node.ints("nodes_missing_value_tracks_true") ?? []
        let splits = try doubles("nodes_splits") ?? []
        let modes = try node.tensor("nodes_modes").map { try $0.integers() } ?? []
        let leafTargets = try node.ints("leaf_targetids") ?? []
        let leafWeights = try doubles("leaf_weights") ?? []
        let roots = try node.ints("tree_roots") ?? []
        let members = try doubles("membership_values") ?? []
        let n = features.count
        for (name, c) in [("nodes_truenodeids", trues.count), ("nodes_falsenodeids", falses.count), ("nodes_trueleafs", trueLeaf.count),
                          ("nodes_falseleafs", falseLeaf.count), ("nodes_splits", splits.count), ("nodes_modes", modes.count)]
        where c != n {
            throw KernelError("\(name) has \(c) entries but nodes_featureids has \(n)")
        }
        guard leafTargets.count == leafWeights.count else { throw KernelError("leaf_targetids and leaf_weights differ in length") }
        guard !roots.isEmpty else { throw KernelError("tree_roots is empty") }
        let leaves = leafTargets.count
        doublePrecision = (try node.tensor("nodes_splits"))?.dtype == .float64
        var memberStart = 0
        for i in 0..<n {
            guard (0...6).contains(modes[i]) else { throw KernelError("node \(i) has unknown mode \(modes[i])") }
            let m: Mode = [.leq, .lt, .gte, .gt, .eq, .neq, .member][modes[i]]
            guard features[i] >= 0, features[i] < Int(Int32.max) else { throw KernelError("node \(i) has feature id \(features[i])") }
            mode.append(m)
            feature.append(Int32(features[i]))
            maxFeature = Swift.max(maxFeature, features[i])
            threshold.append(splits[i])
            missingTrue.append(i < missing.count && missing[i] == 1)
            if m == .member {
                var set = Set<Double>()
                while memberStart < members.count, !members[memberStart].isNaN { set.insert(members[memberStart]); memberStart += 1 }
                memberStart += 1
                setIndex.append(Int32(sets.count))
                sets.append(set)
            } else {
                setIndex.append(-1)
            }
            for (child, isLeaf) in [(trues[i], trueLeaf[i]), (falses[i], falseLeaf[i])] {
                let limit = isLeaf == 1 ? leaves : n
                guard child >= 0, child < limit else { throw KernelError("node \(i) points to missing \(isLeaf == 1 ? "leaf" : "node") \(child)") }
                let target = Int32(isLeaf == 1 ? n + child : child)
                if trueChild.count == i { trueChild.append(target) } else { falseChild.append(target) }
            }
        }
        for j in 0..<leaves {
            guard leafTargets[j] >= 0, leafTargets[j] < targets else { throw KernelError("leaf \(j) targets output \(leafTargets[j]) of \(targets)") }
            mode.append(.leaf); feature.append(0); threshold.append(0); missingTrue.append(false); setIndex.append(-1)
            trueChild.append(-1); falseChild.append(-1)
        }
        weightStart = (0..<n).map { _ in Int32(0) } + (0...leaves).map { Int32($0) }
        weightTarget = leafTargets.map { Int32($0) }
        weightValue = leafWeights
        for r in roots {
            guard r >= 0, r < n else { throw KernelError("tree root \(r) is not a node") }
            self.roots.append(Int32(r))
        }
        try checkAcyclic()
        pack()
    }
}

/// ai.onnx.ml TreeEnsemble (opset 5): the regressor aggregation, output in X's float type.
func mlTreeEnsembleV5(_ node: Node) throws -> Kernel {
    let targets = try node.int("n_targets")
    guard targets > 0 else { throw KernelError("n_targets must be positive") }
    let aggregates: [TreeForest.Aggregate] = [.average, .sum, .min, .max]
    let a = try node.int("aggregate_function", default: 1)
    guard aggregates.indices.contains(a) else { throw KernelError("unknown aggregate_function \(a)") }
    let transforms: [PostTransform] = [.none, .softmax, .logistic, .softmaxZero, .probit]
    let p = try node.int("post_transform", default: 0)
    guard transforms.indices.contains(p) else { throw KernelError("unknown post_transform \(p)") }
    let kernel = TreeEnsembleRegressorKernel(forest: try TreeForest(v5: node, targets: targets), targets: targets,
                                             aggregate: aggregates[a], base: [], transform: transforms[p])
    return { inputs, ctx in
        let x = try inputs.required(0)
        let y = try kernel.run(x, pool: ctx.pool)
        switch x.dtype {
        case .float32: return [y]
        case .float64: return [Tensor(unchecked: y.shape, storage: .float64(y.floats.map { Double($0) }))]
        case .float16: return [Tensor(unchecked: y.shape, storage: .float16(y.floats.map { Float16($0) }))]
        default: throw KernelError("TreeEnsemble takes float, double or float16, got \(x.dtype)")
        }
    }
}
