import BerthONNX
import Foundation

/// Groups connected oneDNN-capable nodes (Conv and FusedConv with constant weights, pooling,
/// element-wise activations, Add, channel Concat) into one `BlockedRegion` node each, whose
/// kernel keeps activations in oneDNN's blocked layout (nChw16c on AVX-512, nChw8c on AVX2)
/// from one primitive to the next and reorders only at the region's edges — what ONNX Runtime's
/// NCHWc transformer does. Every value outside a region, and so every other kernel and the
/// graph's outputs, stays plain NCHW.
///
/// A plan-level pass: `Session` applies it to the graph it builds its plan from, never to
/// `Session.model`. Preconditions kept: each region is convex (no path leaves it and comes back,
/// checked per joining node), so the rewritten graph stays acyclic; a region holds at least one
/// convolution. A lone float convolution is a region too: there it splits over the intra-op pool
/// (a ViT's 16x16 patch convolution at batch 1, 2 threads: 0.32 ms whole), where the plain Conv
/// kernel runs one 1-thread primitive. `BERTH_LONE_CONV_REGION=0` leaves lone ones out (A/B).
struct BlockedLayoutPass {
    /// The op type of a region node, in ``FusedOps/domain``.
    static let opType = "BlockedRegion"

    /// On when the binary has oneDNN, convolutions use it with blocked layouts, and
    /// `BERTH_DNNL_BLOCKED` is not `0` (for A/B measurements).
    static var enabled: Bool {
        #if canImport(CDNNL)
        return convUsesDNNL && ConvLayoutChoice.current != .plain && ProcessInfo.processInfo.environment["BERTH_DNNL_BLOCKED"] != "0"
            && DNNL.isAvailable
        #else
        return false
        #endif
    }

    /// Whether a lone float convolution makes a region (see above).
    static let loneRegions = ProcessInfo.processInfo.environment["BERTH_LONE_CONV_REGION"] != "0"

    func apply(_ graph: Graph) -> Graph {
        let nodes = graph.nodes
        let index = GraphIndex(graph)
        guard let order = topologicalOrder(graph, index) else { return graph }
        var region = [Int?](repeating: nil, count: nodes.count)
        // Regions among each node's ancestors and itself: a node may join region R only if no
        // producer outside R descends from R (that path would leave R and come back).
        var reach = [Set<Int>](repeating: [], count: nodes.count)
        var regionCount = 0
        for i in order {
            let producers = nodes[i].inputs.compactMap { $0.isEmpty ? nil : index.producer[$0] }
                + nodes[i].outerScopeReads.compactMap { index.producer[$0] }
            var r = Set<Int>()
            for p in producers { r.formUnion(reach[p]) }
            if BlockedRegionOp.isCapable(nodes[i], graph) {
                let candidates = producers.compactMap { region[$0] }
                let joined = candidates.first { cand in producers.allSatisfy { p in region[p] == cand || !reach[p].contains(cand) } }
                if let joined {
                    region[i] = joined
                } else {
                    region[i] = regionCount
                    regionCount += 1
                }
                r.insert(region[i]!)
            }
            reach[i] = r
        }
        var members = [[Int]](repeating: [], count: regionCount)
        for i in order { if let r = region[i] { members[r].append(i) } }
        let kept = members.filter { m in
            m.count >= 2 ? m.contains { BlockedRegionOp.isConvolution(nodes[$0]) } : Self.loneRegions && BlockedRegionOp.isFloatConvolution(nodes[m[0]])
        }
        guard !kept.isEmpty else { return graph }

        var replaced: [Int: Node] = [:]
        var dropped = Set<Int>()
        for (k, m) in kept.enumerated() {
            let inside = Set(m)
            var produced = Set<String>()
            for i in m { for o in nodes[i].outputs where !o.isEmpty { produced.insert(o) } }
            var inputs: [String] = []
            var seen = Set<String>()
            for i in m { for v in nodes[i].inputs where !v.isEmpty && !produced.contains(v) && seen.insert(v).inserted { inputs.append(v) } }
            var outputs: [String] = []
            for i in m {
                for o in nodes[i].outputs where !o.isEmpty {
                    let readOutside = (index.consumers[o] ?? []).contains { !inside.contains($0) }
                    if readOutside || index.graphOutputs.contains(o) { outputs.append(o) }
                }
            }
            let name = "blocked_region_\(k)"
            let body = Graph(name: name, nodes: m.map { nodes[$0] }, initializers: [:],
                             inputs: inputs.map { ValueInfo(name: $0, dtype: nil, shape: nil) },
                             outputs: outputs.map { ValueInfo(name: $0, dtype: nil, shape: nil) })
            replaced[m[0]] = Node(name: name, opType: Self.opType, domain: FusedOps.domain, inputs: inputs, outputs: outputs,
                                  attributes: ["body": .graph(body)])
            dropped.formUnion(m.dropFirst())
        }
        var g = graph
        g.nodes = nodes.indices.compactMap { i in replaced[i] ?? (dropped.contains(i) ? nil : nodes[i]) }
        return g
    }

    /// Kahn's order over the graph's nodes, or nil when the graph is not a DAG (the plan then
    /// reports the error).
    private func topologicalOrder(_ graph: Graph, _ index: GraphIndex) -> [Int]? {
        var pending = [Int](repeating: 0, count: graph.nodes.count)
        for (i, n) in graph.nodes.enumerated() {
            for v in Set(n.inputs + n.outerScopeReads) where !v.isEmpty && index.producer[v] != nil { pending[i] += 1 }
        }
        var ready = (0..<graph.nodes.count).filter { pending[$0] == 0 }.reversed() as [Int]
        var order: [Int] = []
        while let i = ready.popLast() {
            order.append(i)
            var newly: [Int] = []
            for o in graph.nodes[i].outputs where !o.isEmpty {
                for c in Set(index.consumers[o] ?? []) {
                    pending[c] -= 1
                    if pending[c] == 0 { newly.append(c) }
                }
            }
            ready.append(contentsOf: newly.sorted().reversed())
        }
        return order.count == graph.nodes.count ? order : nil
    }
}
