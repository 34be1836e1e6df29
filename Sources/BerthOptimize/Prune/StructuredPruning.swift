import BerthONNX
import BerthTensor
import Foundation

/// Structured pruning written as standard ONNX: in every ``PruneChain`` (a MatMul/Gemm or Conv
/// whose units feed, through biases, BatchNormalization and activations, exactly one next layer)
/// the `sparsity` share of units with the smallest L2 weight norm is removed — the producer's
/// columns or filters, the per-unit parameters after it, and the next layer's matching rows or
/// input channels — so the file and the work really shrink. Channels tied by residual Adds or laid
/// side by side by Concats (``ChannelGroups``) go as one group: the same indices from every producer
/// feeding the Add, at their offset in a Concat, and from every layer reading them. Channels that
/// reach a graph output or an op that mixes them are left alone and reported.
public enum StructuredPruning {
    /// What was pruned (layer, units before, after) and what was left alone (node, reason).
    public struct Result: Sendable {
        public var model: Onnx_ModelProto
        public var pruned: [(layer: String, before: Int, after: Int)]
        public var skipped: [(node: String, reason: String)]
        /// How units were chosen and the next layers repaired, in words (for the report).
        public var method: String = ""
        /// Per reconstructed layer: mean squared error against the original output on the
        /// calibration data with the plainly sliced weights and after the least-squares solve.
        public var reconstructed: [(layer: String, errorBefore: Double, errorAfter: Double, applied: Bool)] = []
    }

    /// Runs the model with the named intermediate tensors as extra outputs on sample data and
    /// returns them (the caller owns the data: BerthOptimize knows no datasets).
    public typealias ActivationProbe = (_ model: Onnx_ModelProto, _ tensors: [String]) throws -> [String: Tensor]

    /// Prunes `sparsity` (0 ≤ s < 1) of every chain's units; throws when nothing is prunable.
    /// Units are ranked by the L2 norm of their weights, or — given `probe` — by what they pass
    /// on: their mean absolute activation on the sample data times the L2 norm of their outgoing
    /// weights (a selection without fine-tuning that keeps the units the data uses). With `probe`
    /// and `reconstruct`, every layer that lost input channels then gets the weights and bias
    /// that best reproduce its original output on the data (``WeightReconstruction``).
    public static func apply(_ model: Onnx_ModelProto, sparsity: Double, baseDirectory: URL?,
                             probe: ActivationProbe? = nil, reconstruct: Bool = true) throws -> Result {
        guard sparsity >= 0, sparsity < 1 else { throw OptimizeError.badInput("--sparsity must be in [0, 1), got \(sparsity)") }
        var model = model
        var arrays = try PruneWeights.floatInitializers(model.graph, baseDirectory: baseDirectory)
        let originalShapes = arrays.mapValues(\.shape)
        let original = model
        // The kept indices of every slice (name → axis → indices into the original axis).
        var keptAlong: [String: [Int: [Int]]] = [:]
        let finder = ChainFinder(graph: model.graph, shapes: arrays.mapValues(\.shape))
        let chains = model.graph.node.indices.map { finder.chain(from: $0) }
        // Channels tied by residual Adds and Concats: pruned as groups (the producers with a chain of their own excluded).
        let groups = ChannelGroups(graph: model.graph, shapes: arrays.mapValues(\.shape))
        let chained = Set(chains.indices.filter { chains[$0].0 != nil })
        let groupsToPrune = groups.prunable.filter { g in !g.producers.contains { chained.contains($0.node) } }
        let groupRoots = Set(groupsToPrune.map(\.root))
        let groupReaders = groups.readers.filter { r in r.layout.segments.contains { groupRoots.contains(groups.root($0.group)) } }
        var activations: [String: Tensor] = [:]
        if let probe {
            let names = Array(Set(chains.compactMap { $0.0?.activation } + groupReaders.map(\.activation))).sorted()
            activations = try probe(withOutputs(model, names), names)
        }
        var pruned: [(String, Int, Int)] = [], skipped: [(String, String)] = [], changed = Set<String>(), touched = Set<String>()
        for i in model.graph.node.indices {
            let (chain, why) = chains[i]
            if let why { skipped.append((PruneWeights.label(model.graph.node[i]), why)) }
            guard let chain else { continue }
            let remove = Int((Double(chain.units) * sparsity).rounded(.down))
            let keepCount = max(1, chain.units - remove)
            guard keepCount < chain.units, let w = arrays[chain.weight] else { continue }
            var norms = w.norms(along: chain.unitAxis)
            if let a = activations[chain.activation], let next = arrays[chain.nextWeight],
               let used = PruneWeights.meanAbsolute(a, axis: chain.activationAxis, units: chain.units) {
                let outgoing = next.norms(along: chain.nextAxis)
                norms = zip(used, outgoing).map { $0 * $1 }
            }
            // The strongest units, in their original order; ties keep the lower index.
            let keep = norms.indices.sorted { norms[$0] != norms[$1] ? norms[$0] > norms[$1] : $0 < $1 }.prefix(keepCount).sorted()
            for (name, axis) in chain.slices {
                arrays[name] = arrays[name]!.keeping(keep, along: axis)
                keptAlong[name, default: [:]][axis] = Array(keep)
                touched.insert(name)
            }
            changed.formUnion(chain.changed)
            pruned.append((chain.label, chain.units, keepCount))
        }
        var keepByGroup: [Int: [Int]] = [:]
        var groupPruned = Set<String>()
        for g in groupsToPrune {
            let keepCount = max(1, g.units - Int((Double(g.units) * sparsity).rounded(.down)))
            guard keepCount < g.units else { continue }
            var scores = [Double](repeating: 0, count: g.units)
            if !activations.isEmpty {
                // What each channel passes on: mean |activation| × outgoing weight norm, summed over the layers reading it.
                for r in groupReaders {
                    guard let a = activations[r.activation], let w = arrays[r.weight],
                          let used = PruneWeights.meanAbsolute(a, axis: r.layout.axis, units: r.layout.count) else { continue }
                    let outgoing = w.norms(along: r.axis)
                    var offset = 0
                    for seg in r.layout.segments {
                        if groups.root(seg.group) == g.root { for c in 0..<seg.count { scores[c] += used[offset + c] * outgoing[offset + c] } }
                        offset += seg.count
                    }
                }
            } else {
                for p in g.producers { if let w = arrays[p.weight] { for (c, v) in w.norms(along: p.axis).enumerated() { scores[c] += v } } }
            }
            keepByGroup[g.root] = scores.indices.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }.prefix(keepCount).sorted()
            pruned.append((g.producers.map(\.label).joined(separator: " + "), g.units, keepCount))
            groupPruned.formUnion(g.producers.map(\.label))
        }
        if !keepByGroup.isEmpty {
            for slice in groups.slices {
                let keep = groups.kept(slice.layout, keepByGroup)
                guard keep.count < slice.layout.count, let a = arrays[slice.name] else { continue }
                arrays[slice.name] = a.keeping(keep, along: slice.axis)
                keptAlong[slice.name, default: [:]][slice.axis] = keep
                touched.insert(slice.name)
            }
            for (name, l) in groups.layouts where l.segments.contains(where: { keepByGroup[groups.root($0.group)] != nil }) { changed.insert(name) }
            skipped.removeAll { groupPruned.contains($0.0) }
        }
        guard !pruned.isEmpty else {
            let reasons = skipped.isEmpty ? "it has no MatMul, Gemm or Conv with a weight initializer" : skipped.map { "\($0.0): \($0.1)" }.joined(separator: "; ")
            throw OptimizeError.nothingToDo("nothing to prune: \(reasons)")
        }
        func current() -> Onnx_ModelProto {
            var m = original
            m.graph = PruneWeights.replacing(original.graph, with: arrays.filter { touched.contains($0.key) })
            // Declared shapes of the tensors whose unit count changed no longer hold.
            m.graph.valueInfo.removeAll { changed.contains($0.name) }
            return m
        }
        var method = probe == nil ? "units ranked by the L2 norm of their weights"
            : "units ranked by mean |activation| on the data × outgoing weight norm"
        var outcomes: [(String, Double, Double, Bool)] = []
        if let probe, reconstruct {
            method += "; each layer that lost input channels re-solved by least squares on the data (weights and bias, layer by layer)"
            let inputs = Set(original.graph.input.map(\.name))
            let layers = WeightReconstruction.layers(graph: original.graph, original: originalShapes, arrays: arrays).filter { !inputs.contains($0.input) }
            if !layers.isEmpty {
                let targets = try probe(withOutputs(original, layers.map(\.target)), layers.map(\.target))
                for layer in layers {
                    let xs = try probe(withOutputs(current(), [layer.input]), [layer.input])
                    guard let x = xs[layer.input], let y = targets[layer.target],
                          let o = WeightReconstruction.reconstruct(layer, x: x, y: y, keep: keptAlong[layer.weight]?[layer.unitAxis], arrays: &arrays)
                    else { continue }
                    outcomes.append((o.layer, o.errorBefore, o.errorAfter, o.applied))
                    if o.applied {
                        touched.insert(layer.weight)
                        if let b = layer.bias { touched.insert(b) }
                    }
                }
            }
        }
        model = current()
        return Result(model: model, pruned: pruned, skipped: skipped, method: method, reconstructed: outcomes)
    }
}

/// `model` with the named tensors added as graph outputs (for an ``StructuredPruning/ActivationProbe``).
private func withOutputs(_ model: Onnx_ModelProto, _ names: [String]) -> Onnx_ModelProto {
    var probed = model
    for name in Set(names).sorted() where !probed.graph.output.contains(where: { $0.name == name }) {
        var v = Onnx_ValueInfoProto()
        v.name = name
        probed.graph.output.append(v)
    }
    return probed
}

/// Magnitude (unstructured) pruning: the `sparsity` share of each MatMul/Gemm/Conv weight with the
/// smallest absolute values becomes zero. Shapes stay; the file compresses and a sparse kernel
/// could skip the zeros, but a dense one does the same work.
public enum MagnitudePruning {
    /// The model and, per weight, how many values it zeroed out of how many.
    public static func apply(_ model: Onnx_ModelProto, sparsity: Double, baseDirectory: URL?) throws
        -> (model: Onnx_ModelProto, zeroed: [(weight: String, zeros: Int, count: Int)]) {
        guard sparsity >= 0, sparsity < 1 else { throw OptimizeError.badInput("--sparsity must be in [0, 1), got \(sparsity)") }
        var model = model
        let all = try PruneWeights.floatInitializers(model.graph, baseDirectory: baseDirectory)
        var arrays: [String: FloatArray] = [:], zeroed: [(String, Int, Int)] = []
        for n in model.graph.node where n.domain.isEmpty && ["MatMul", "Gemm", "Conv"].contains(n.opType) && n.input.count > 1 {
            guard arrays[n.input[1]] == nil, var w = all[n.input[1]], w.shape.count >= 2 else { continue }
            let k = Int((Double(w.values.count) * sparsity).rounded(.down))
            let order = w.values.indices.sorted { abs(w.values[$0]) < abs(w.values[$1]) }
            for i in order.prefix(k) { w.values[i] = 0 }
            arrays[n.input[1]] = w
            zeroed.append((n.input[1], w.values.filter { $0 == 0 }.count, w.values.count))
        }
        guard !zeroed.isEmpty else { throw OptimizeError.nothingToDo("nothing to prune: no MatMul, Gemm or Conv has a float weight initializer") }
        model.graph = PruneWeights.replacing(model.graph, with: arrays)
        return (model, zeroed)
    }
}

/// Reading and writing the float initializers the pruning passes rewrite.
enum PruneWeights {
    static func label(_ n: Onnx_NodeProto) -> String { n.name.isEmpty ? "\(n.opType) → \(n.output.first ?? "?")" : n.name }

    /// The mean absolute value of each unit of `t` (units along `axis`, -1 the last); nil when the
    /// tensor does not have `units` there.
    static func meanAbsolute(_ t: Tensor, axis: Int, units: Int) -> [Double]? {
        guard t.rank >= 1 else { return nil }
        let a = axis < 0 ? t.rank + axis : axis
        guard a >= 0, a < t.rank, t.shape[a] == units, t.count > 0 else { return nil }
        let inner = t.shape[(a + 1)...].reduce(1, *), outer = t.shape[..<a].reduce(1, *)
        let v = t.floats
        var sums = [Double](repeating: 0, count: units)
        for o in 0..<outer { for k in 0..<units { for i in 0..<inner { sums[k] += Double(abs(v[(o * units + k) * inner + i])) } } }
        return sums.map { $0 / Double(outer * inner) }
    }

    /// Every float32 initializer of `graph`, decoded (external data resolved under `baseDirectory`).
    static func floatInitializers(_ graph: Onnx_GraphProto, baseDirectory: URL?) throws -> [String: FloatArray] {
        var out: [String: FloatArray] = [:]
        for p in graph.initializer where p.dataType == Int32(DType.float32.rawValue) {
            let t: Tensor
            do { t = try Tensor(proto: p, baseDirectory: baseDirectory) } catch {
                throw OptimizeError.invalidModel("initializer '\(p.name)': \(error)")
            }
            out[p.name] = FloatArray(shape: t.shape, values: t.floats)
        }
        return out
    }

    /// `graph` with the initializers named in `arrays` rewritten (as raw data, in place; others untouched).
    static func replacing(_ graph: Onnx_GraphProto, with arrays: [String: FloatArray]) -> Onnx_GraphProto {
        var graph = graph
        for (i, p) in graph.initializer.enumerated() {
            guard let a = arrays[p.name] else { continue }
            graph.initializer[i] = .float(p.name, shape: a.shape, a.values)
        }
        // An initializer also listed as a graph input (IR < 4) declares its shape there.
        for (i, input) in graph.input.enumerated() {
            guard let a = arrays[input.name] else { continue }
            graph.input[i].type.tensorType.shape.dim = a.shape.map { d in var x = Onnx_TensorShapeProto.Dimension(); x.dimValue = Int64(d); return x }
        }
        return graph
    }
}
