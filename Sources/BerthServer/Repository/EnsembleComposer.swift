import BerthONNX
import BerthTensor
import Foundation

/// Turns a Triton ensemble (`platform: "ensemble"`, `ensemble_scheduling` steps) into one ONNX
/// graph: each step's graph is copied in with its private value names prefixed, its mapped inputs
/// and outputs renamed to the ensemble's tensor names, so the outputs of one step feed the next.
/// The result loads, batches, warms up and reports like any model. Steps run in data order
/// (whatever order the config lists them in); a step whose inputs no ensemble input or earlier
/// step provides is an error, which is also how a cycle between steps is found.
///
/// Why one graph rather than a scheduler over separate models: the step models' outputs never
/// leave the process, the batcher batches the whole pipeline once, and the engine can plan across
/// the step boundary. The cost: every step must import the same opset per domain (one graph has
/// one), and a step's version is fixed when the ensemble loads.
struct EnsembleComposer {
    let repository: ModelRepository

    /// The composed model of ensemble `name`. Errors name config.pbtxt and the step's field.
    func compose(_ name: String, config: ModelConfig, visiting: [String] = []) throws -> Model {
        guard let steps = config.ensemble else { throw fail(name, "is not an ensemble") }
        var available = Set(config.inputs.map(\.name))
        var infos: [String: ValueInfo] = [:]
        var nodes: [Node] = []
        var initializers: [String: Tensor] = [:]
        var opsets: [String: Int] = [:]
        var irVersion: Int64 = 3
        var pending = Array(steps.enumerated())
        var produced: [String: String] = [:]
        while !pending.isEmpty {
            guard let at = pending.firstIndex(where: { Set($0.element.inputMap.values).isSubset(of: available) }) else {
                let (i, s) = pending[0]
                let missing = Set(s.inputMap.values).subtracting(available).sorted()
                throw fail(name, "'ensemble_scheduling.step[\(i)]' (\(s.model)) reads \(missing), which no ensemble input or other step provides (or the steps form a cycle)")
            }
            let (i, step) = pending.remove(at: at)
            let field = "ensemble_scheduling.step[\(i)]"
            let model = try stepModel(name, step, field: field, visiting: visiting + [name])
            for (domain, v) in model.opsetImports {
                if let o = opsets[domain], o != v {
                    throw fail(name, "'\(field)' (\(step.model)) imports opset \(v) of domain '\(domain.isEmpty ? "ai.onnx" : domain)', another step \(o); one graph has one opset per domain")
                }
                opsets[domain] = v
            }
            irVersion = max(irVersion, model.irVersion)
            let g = model.graph
            let inputNames = Set(g.inputs.map(\.name)), outputNames = Set(g.outputs.map(\.name))
            if let k = step.inputMap.keys.sorted().first(where: { !inputNames.contains($0) }) {
                throw fail(name, "'\(field).input_map' names '\(k)', not an input of '\(step.model)' (its inputs: \(g.inputs.map(\.name)))")
            }
            if let k = step.outputMap.keys.sorted().first(where: { !outputNames.contains($0) }) {
                throw fail(name, "'\(field).output_map' names '\(k)', not an output of '\(step.model)' (its outputs: \(g.outputs.map(\.name)))")
            }
            if let k = g.inputs.map(\.name).first(where: { step.inputMap[$0] == nil }) {
                throw fail(name, "'\(field).input_map' does not map '\(k)', an input of '\(step.model)'")
            }
            let prefix = "\(name)/\(i):\(step.model)/"
            let rename: (String) -> String = { v in
                if v.isEmpty { return v }
                if let e = step.inputMap[v], inputNames.contains(v) { return e }
                if let e = step.outputMap[v], outputNames.contains(v) { return e }
                return prefix + v
            }
            let renamed = Self.rename(g, rename)
            for i in renamed.inputs where infos[i.name] == nil { infos[i.name] = i }
            for o in renamed.outputs where step.outputMap.values.contains(o.name) {
                if let other = produced[o.name] {
                    throw fail(name, "ensemble tensor '\(o.name)' is produced by both \(other) and '\(field)'")
                }
                produced[o.name] = "'\(field)'"
                infos[o.name] = o
                available.insert(o.name)
            }
            nodes += renamed.nodes.map { n in var n = n; n.name = prefix + n.name; return n }
            initializers.merge(renamed.initializers) { a, _ in a }
        }
        let inputs = try config.inputs.map { t -> ValueInfo in
            guard var v = infos[t.name] else { throw fail(name, "ensemble input '\(t.name)' is read by no step") }
            v.name = t.name
            return v
        }
        let outputs = try config.outputs.map { t -> ValueInfo in
            guard let v = infos[t.name], produced[t.name] != nil else {
                throw fail(name, "ensemble output '\(t.name)' is produced by no step's output_map")
            }
            return v
        }
        return Model(irVersion: irVersion, opsetImports: opsets, producerName: "berth-ensemble",
                     graph: Graph(name: name, nodes: nodes, initializers: initializers, inputs: inputs, outputs: outputs))
    }

    /// The step's model: its version's ONNX file, or (a nested ensemble) its composition.
    private func stepModel(_ name: String, _ step: ModelConfig.EnsembleStep, field: String, visiting: [String]) throws -> Model {
        if visiting.contains(step.model) {
            throw fail(name, "'\(field).model_name' \(step.model) closes a cycle: \((visiting + [step.model]).joined(separator: " → "))")
        }
        guard repository.contains(model: step.model) else {
            throw fail(name, "'\(field).model_name' \(step.model) is not a model of the repository")
        }
        let config: ModelConfig
        do { config = try repository.config(of: step.model) } catch {
            throw fail(name, "'\(field)' (\(step.model)): \((error as? ServerError)?.description ?? "\(error)")")
        }
        if config.ensemble != nil { return try compose(step.model, config: config, visiting: visiting) }
        if let t = (config.inputs + config.outputs).first(where: { $0.reshape != nil }) {
            throw fail(name, "'\(field)' (\(step.model)) reshapes '\(t.name)' in its config; an ensemble step runs the model's own shapes, so leave reshape out of step models")
        }
        let version = try Self.version(of: step, in: repository, config: config)
        guard let v = version else {
            throw fail(name, "'\(field)' (\(step.model)) has no version \(step.version > 0 ? String(step.version) : "folder with \(ModelRepository.modelFileName)")")
        }
        do {
            return try ModelReader.read(contentsOf: repository.modelFile(model: step.model, version: v))
        } catch let e as ONNXError {
            throw fail(name, "'\(field)' (\(step.model) version \(v)): \(e.description)")
        }
    }

    /// The version a step runs: the one it names, or the highest its model's version policy serves.
    static func version(of step: ModelConfig.EnsembleStep, in repository: ModelRepository, config: ModelConfig) throws -> Int? {
        let onDisk = repository.versions(of: step.model)
        if step.version > 0 { return onDisk.contains(step.version) ? step.version : nil }
        return config.versionPolicy.select(onDisk).last
    }

    private func fail(_ name: String, _ m: String) -> ServerError {
        .loadFailed(model: name, reason: "config.pbtxt: \(m)")
    }

    /// `g` with every value name passed through `f`, in subgraphs too (they see the same names).
    static func rename(_ g: Graph, _ f: (String) -> String) -> Graph {
        var g = g
        g.nodes = g.nodes.map { n in
            var n = n
            n.inputs = n.inputs.map(f)
            n.outputs = n.outputs.map(f)
            n.attributes = n.attributes.mapValues { a in
                switch a {
                case let .graph(s): return .graph(rename(s, f))
                case let .graphs(gs): return .graphs(gs.map { rename($0, f) })
                default: return a
                }
            }
            return n
        }
        g.initializers = Dictionary(g.initializers.map { (f($0.key), $0.value) }, uniquingKeysWith: { a, _ in a })
        g.inputs = g.inputs.map { var v = $0; v.name = f(v.name); return v }
        g.outputs = g.outputs.map { var v = $0; v.name = f(v.name); return v }
        return g
    }
}
