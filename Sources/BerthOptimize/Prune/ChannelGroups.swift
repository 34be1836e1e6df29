import BerthONNX

/// Channels tied together across a graph, for structured pruning through residual connections
/// and concatenations. Every MatMul/Gemm/Conv with a weight of its own starts a group of output
/// channels; channel-wise steps (per-channel biases and scales, BatchNormalization, activations,
/// pooling, Flatten after global pooling) carry the group along; an Add / Sub / Mul / Div of two
/// such tensors ties their groups into one (the same channel indices must go from every producer
/// feeding it); a Concat lays groups side by side, so the channels of each sit at an offset.
/// A layer reading grouped channels (its weight's input rows or input channels) shrinks with them.
/// A group read anywhere else (a graph output, a Reshape, an op that mixes channels) is left whole.
struct ChannelGroups {
    /// One piece of a tensor's channel axis: `count` channels of group `group`.
    struct Segment: Equatable { var group: Int; var count: Int }
    /// The channel axis of a tensor: the groups along it, in order, and where the axis is
    /// (1 for NCHW activations, -1 for the last axis of dense ones).
    struct Layout: Equatable {
        var segments: [Segment]
        var axis: Int
        var count: Int { segments.reduce(0) { $0 + $1.count } }
    }
    /// An initializer sliced along `axis` by the channels of `layout`.
    struct Slice { var name: String; var axis: Int; var layout: Layout }
    /// A layer reading grouped channels: its input and its weight's per-channel axis (for the
    /// data-driven ranking: what each channel passes on).
    struct Reader { var activation: String; var layout: Layout; var weight: String; var axis: Int }
    /// A group's producer: node index, label, weight and the axis of its output channels.
    struct Producer { var node: Int; var label: String; var weight: String; var axis: Int }

    private(set) var units: [Int] = []
    private var parent: [Int] = []
    private(set) var poisoned: [Int: String] = [:]
    private(set) var producers: [Int: [Producer]] = [:]
    private(set) var slices: [Slice] = []
    private(set) var readers: [Reader] = []
    private(set) var layouts: [String: Layout] = [:]

    /// The group's representative.
    func root(_ g: Int) -> Int {
        var g = g
        while parent[g] != g { g = parent[g] }
        return g
    }

    /// The groups that can be pruned: their root, channel count and producers.
    var prunable: [(root: Int, units: Int, producers: [Producer])] {
        var seen = Set<Int>(), out: [(Int, Int, [Producer])] = []
        for g in parent.indices {
            let r = root(g)
            guard seen.insert(r).inserted, poisoned[r] == nil, let p = producers[r], !p.isEmpty else { continue }
            out.append((r, units[r], p))
        }
        return out
    }

    /// Why each group that cannot be pruned stays whole (label of its first producer, reason).
    var kept: [(String, String)] {
        var seen = Set<Int>(), out: [(String, String)] = []
        for g in parent.indices {
            let r = root(g)
            guard seen.insert(r).inserted, let why = poisoned[r], let p = producers[r]?.first else { continue }
            out.append((p.label, why))
        }
        return out
    }

    init(graph: Onnx_GraphProto, shapes: [String: [Int]]) {
        var uses: [String: Int] = [:]
        for n in graph.node {
            for input in n.input where !input.isEmpty { uses[input, default: 0] += 1 }
            for a in n.attribute where a.hasG || !a.graphs.isEmpty {
                for g in (a.hasG ? [a.g] : []) + a.graphs { for sn in g.node { for input in sn.input { uses[input, default: 0] += 2 } } }
            }
        }
        var producedBy: [String: String] = [:]
        for n in graph.node { for o in n.output { producedBy[o] = n.opType } }
        func own(_ name: String) -> [Int]? { uses[name] == 1 ? shapes[name] : nil }
        func attr(_ n: Onnx_NodeProto, _ name: String) -> Onnx_AttributeProto? { n.attribute.first { $0.name == name } }
        func label(_ n: Onnx_NodeProto) -> String { n.name.isEmpty ? "\(n.opType) → \(n.output.first ?? "?")" : n.name }

        for (i, n) in graph.node.enumerated() {
            let grouped = n.input.enumerated().filter { !$0.element.isEmpty && layouts[$0.element] != nil }
            func poisonInputs(_ why: String) { for (_, name) in grouped { poison(layouts[name]!, why) } }
            guard n.domain.isEmpty else { poisonInputs("\(n.opType) (\(n.domain)) reads its channels"); continue }
            switch n.opType {
            case "MatMul", "Gemm", "Conv":
                let conv = n.opType == "Conv"
                let transB = n.opType == "Gemm" && (attr(n, "transB")?.i ?? 0) != 0
                guard n.input.count >= 2, let w = own(n.input[1]), conv ? w.count >= 3 : w.count == 2,
                      !conv || (attr(n, "group")?.i ?? 1) == 1, n.opType != "Gemm" || (attr(n, "transA")?.i ?? 0) == 0,
                      grouped.allSatisfy({ $0.offset == 0 }) else {
                    poisonInputs("\(n.opType) '\(label(n))' reads them with a shared, grouped or computed weight")
                    continue
                }
                // Reader side: the weight's input channels follow the input's groups.
                let inAxis = conv ? 1 : (transB ? 1 : 0)
                if let l = layouts[n.input[0]] {
                    if l.axis == (conv ? 1 : -1), l.count == w[inAxis] {
                        slices.append(Slice(name: n.input[1], axis: inAxis, layout: l))
                        readers.append(Reader(activation: n.input[0], layout: l, weight: n.input[1], axis: inAxis))
                    } else {
                        poison(l, "\(n.opType) '\(label(n))' reads them on another axis")
                    }
                }
                // Producer side: a new group of output channels.
                let outAxis = conv ? 0 : (transB ? 0 : 1)
                let g = newGroup(w[outAxis])
                producers[g] = [Producer(node: i, label: label(n), weight: n.input[1], axis: outAxis)]
                let out = Layout(segments: [Segment(group: g, count: w[outAxis])], axis: conv ? 1 : -1)
                slices.append(Slice(name: n.input[1], axis: outAxis, layout: out))
                if n.input.count > 2, !n.input[2].isEmpty {
                    // Conv's bias is [M]; Gemm's broadcasts along the last axis.
                    if let b = own(n.input[2]), b.reduce(1, *) == w[outAxis], b.last == w[outAxis] {
                        slices.append(Slice(name: n.input[2], axis: b.count - 1, layout: out))
                    } else {
                        poison(out, "its bias is not one value per channel")
                    }
                }
                if let o = n.output.first { layouts[o] = out }
            case "Add", "Sub", "Mul", "Div":
                guard n.input.count == 2, n.output.count == 1 else { poisonInputs("\(n.opType) '\(label(n))'"); continue }
                let a = layouts[n.input[0]], b = layouts[n.input[1]]
                if let a, let b {
                    guard a.axis == b.axis, a.segments.map(\.count) == b.segments.map(\.count) else {
                        poison(a, "\(n.opType) '\(label(n))' adds channels laid out differently")
                        poison(b, "\(n.opType) '\(label(n))' adds channels laid out differently")
                        continue
                    }
                    for (x, y) in zip(a.segments, b.segments) { union(x.group, y.group) }
                    layouts[n.output[0]] = a
                } else if let l = a ?? b {
                    let other = a == nil ? n.input[0] : n.input[1]
                    if let s = shapes[other], s.reduce(1, *) == 1 {
                        layouts[n.output[0]] = l  // a scalar
                    } else if let s = own(other), let axis = perChannelAxis(s, l) {
                        slices.append(Slice(name: other, axis: axis, layout: l))
                        layouts[n.output[0]] = l
                    } else {
                        poison(l, "\(n.opType) '\(label(n))' mixes its channels with another tensor")
                    }
                }
            case "BatchNormalization":
                guard let l = layouts[n.input[0]], grouped.count == 1, n.input.count == 5, n.output.count == 1, l.axis == 1,
                      n.input[1...].allSatisfy({ own($0) == [l.count] }) else {
                    poisonInputs("BatchNormalization '\(label(n))' in training mode or with shared parameters")
                    continue
                }
                for p in n.input[1...] { slices.append(Slice(name: p, axis: 0, layout: l)) }
                layouts[n.output[0]] = l
            case "Clip", "Dropout", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "LpPool", "GlobalLpPool":
                let pooling = n.opType.hasSuffix("Pool")
                guard let l = layouts[n.input[0]], grouped.count == 1, !pooling || l.axis == 1,
                      n.opType != "Clip" || n.input.dropFirst().allSatisfy({ $0.isEmpty || (shapes[$0]?.reduce(1, *) ?? 0) <= 1 }),
                      n.output.count == 1 || n.output.dropFirst().allSatisfy(\.isEmpty) else {
                    poisonInputs("\(n.opType) '\(label(n))' reads them with per-channel parameters or a second output")
                    continue
                }
                layouts[n.output[0]] = l
            case "Flatten":
                // After global pooling (spatial 1x1) the channels become the last axis, in order.
                guard let l = layouts[n.input[0]], l.axis == 1, (attr(n, "axis")?.i ?? 1) == 1,
                      let from = producedBy[n.input[0]], from.hasPrefix("Global") else {
                    poisonInputs("Flatten '\(label(n))' mixes channels with positions")
                    continue
                }
                layouts[n.output[0]] = Layout(segments: l.segments, axis: -1)
            case "Concat":
                let layoutsIn = n.input.map { layouts[$0] }
                let axis = attr(n, "axis")?.i ?? 0
                guard let first = layoutsIn.first ?? nil, layoutsIn.allSatisfy({ $0?.axis == first.axis }),
                      first.axis == 1 ? axis == 1 : axis == -1 else {
                    poisonInputs("Concat '\(label(n))' joins them with other tensors or on another axis")
                    continue
                }
                layouts[n.output[0]] = Layout(segments: layoutsIn.flatMap { $0!.segments }, axis: first.axis)
            case _ where ChainFinder.unaryOps.contains(n.opType):
                guard let l = layouts[n.input[0]], grouped.count == 1 else { poisonInputs("\(n.opType) '\(label(n))'"); continue }
                layouts[n.output[0]] = l
            default:
                poisonInputs("\(n.opType) '\(label(n))' reads their channels")
            }
        }
        for o in graph.output { if let l = layouts[o.name] { poison(l, "'\(o.name)' is a graph output") } }
        for (name, l) in layouts where (uses[name] ?? 0) > graph.node.reduce(0, { $0 + $1.input.filter { $0 == name }.count }) {
            poison(l, "a subgraph reads '\(name)'")
        }
    }

    /// The axis of `shape` holding one value per channel of `l`, broadcast against it; nil otherwise.
    private func perChannelAxis(_ shape: [Int], _ l: Layout) -> Int? {
        let units = l.count
        guard shape.reduce(1, *) == units else { return nil }
        if l.axis == -1 { return shape.last == units ? shape.count - 1 : nil }
        guard let k = shape.firstIndex(of: units), shape[(k + 1)...].allSatisfy({ $0 == 1 }), shape.count - k >= 2 || units == 1 else { return nil }
        return k
    }

    private mutating func newGroup(_ n: Int) -> Int {
        parent.append(parent.count)
        units.append(n)
        return parent.count - 1
    }

    private mutating func poison(_ l: Layout, _ why: String) {
        for s in l.segments {
            let r = root(s.group)
            if poisoned[r] == nil { poisoned[r] = why }
        }
    }

    private mutating func union(_ a: Int, _ b: Int) {
        let ra = root(a), rb = root(b)
        guard ra != rb else { return }
        guard units[ra] == units[rb] else {
            poisoned[ra] = poisoned[ra] ?? "tied groups of different sizes"
            poisoned[rb] = poisoned[rb] ?? "tied groups of different sizes"
            return
        }
        parent[rb] = ra
        producers[ra, default: []] += producers[rb] ?? []
        producers[rb] = nil
        if let why = poisoned[rb] ?? poisoned[ra] { poisoned[ra] = why }
        poisoned[rb] = nil
    }

    /// The channel indices a layout keeps, given the kept channels of each pruned group (by root).
    func kept(_ l: Layout, _ keep: [Int: [Int]]) -> [Int] {
        var out: [Int] = [], offset = 0
        for s in l.segments {
            if let k = keep[root(s.group)] { out += k.map { $0 + offset } } else { out += Array(offset..<(offset + s.count)) }
            offset += s.count
        }
        return out
    }
}
