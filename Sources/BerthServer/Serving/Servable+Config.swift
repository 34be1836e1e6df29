import BerthEngine
import BerthONNX
import BerthProtocol
import BerthTensor
import Foundation

/// Triton's `reshape` on a config's inputs and outputs: the client sends and receives tensors of
/// the config's `dims`, the model takes and gives its `reshape`. Shapes here leave out the batch
/// dimension, which passes through unchanged when the model batches.
struct TensorReshapes: Sendable, Equatable {
    /// Input name → the shape the model takes.
    var inputs: [String: [Int]] = [:]
    /// Output name → the shape the client gets (the config's dims).
    var outputs: [String: [Int]] = [:]
    /// Whether dim 0 is the batch dimension.
    var batched = false

    var isEmpty: Bool { inputs.isEmpty && outputs.isEmpty }

    init(_ config: ModelConfig, batched: Bool) {
        self.batched = batched
        for t in config.inputs { if let r = t.reshape { inputs[t.name] = r } }
        for t in config.outputs where t.reshape != nil { outputs[t.name] = t.dims }
    }

    /// `t` with the shape `target` (after the batch dimension); one -1 takes what is left.
    func apply(_ t: Tensor, _ target: [Int], name: String) throws -> Tensor {
        var shape = (batched && t.rank >= 1 ? [t.shape[0]] : []) + target
        // Checked products: config dims are the user's numbers.
        func product(_ dims: [Int]) -> Int? {
            var n = 1
            for d in dims {
                let (m, o) = n.multipliedReportingOverflow(by: d)
                guard !o else { return nil }
                n = m
            }
            return n
        }
        if let free = shape.firstIndex(of: -1) {
            var rest = shape
            rest.remove(at: free)
            guard let known = product(rest), known > 0, t.count % known == 0 else { throw reshapeError(t, target, name) }
            shape[free] = t.count / known
        }
        guard product(shape) == t.count else { throw reshapeError(t, target, name) }
        return try t.reshaped(shape)
    }

    private func reshapeError(_ t: Tensor, _ target: [Int], _ name: String) -> ServerError {
        .badRequest("tensor '\(name)' of shape \(t.shape) cannot be reshaped to \(target) (config.pbtxt reshape)")
    }
}

extension Servable {
    /// Runs checked feeds through the batcher, reshaped both ways as the config says.
    /// `priority` is the request's (Triton's priority levels, when the config has them).
    func run(_ feeds: [String: Tensor], rows: Int, tenant: String? = nil, weight: Double = 1, priority: Int? = nil) async throws -> Batcher.Result {
        let level = config.dynamicBatching?.level(priority) ?? 0
        guard !reshapes.isEmpty else { return try await batcher.submit(feeds, rows: rows, tenant: tenant, weight: weight, priority: level) }
        var f = feeds
        for (name, shape) in reshapes.inputs { if let t = f[name] { f[name] = try reshapes.apply(t, shape, name: name) } }
        var result = try await batcher.submit(f, rows: rows, tenant: tenant, weight: weight, priority: level)
        for (name, shape) in reshapes.outputs {
            if let t = result.outputs[name] { result.outputs[name] = try reshapes.apply(t, shape, name: name) }
        }
        return result
    }

    /// What clients are checked against: the model's tensors, with the config's dims where it
    /// reshapes them.
    static func interface(_ model: String, session: Session, config: ModelConfig, batched: Bool) -> ModelInterface {
        func spec(_ info: ValueInfo, _ declared: [ModelConfig.TensorConfig]) -> TensorSpec {
            guard let t = declared.first(where: { $0.name == info.name }), t.reshape != nil else { return TensorSpec(info) }
            return TensorSpec(name: info.name, dtype: info.dtype, shape: (batched ? [nil] : []) + t.dims.map { $0 < 0 ? nil : $0 })
        }
        return ModelInterface(name: model, inputs: session.inputs.map { spec($0, config.inputs) },
                              outputs: session.outputs.map { spec($0, config.outputs) })
    }

    /// Fails when the config declares a tensor the model does not have, or with another type or
    /// shape (the model's shape is `reshape` when given, else `dims`, after the batch dimension).
    static func check(_ config: ModelConfig, against session: Session, batched: Bool) throws {
        func compare(_ declared: [ModelConfig.TensorConfig], _ infos: [ValueInfo], _ kind: String) throws {
            for t in declared {
                guard let info = infos.first(where: { $0.name == t.name }) else {
                    throw ServerError.badRequest("config.pbtxt: \(kind) '\(t.name)' is not an \(kind) of the model (its \(kind)s: \(infos.map(\.name)))")
                }
                if let d = t.dtype, let m = info.dtype, d != m {
                    throw ServerError.badRequest("config.pbtxt: \(kind) '\(t.name)' data_type is \(d.tritonConfigName), the model's is \(m.tritonConfigName)")
                }
                let expected = (batched ? [-1] : []) + (t.reshape ?? t.dims)
                guard let shape = info.shape else { continue }
                let fits = shape.count == expected.count && zip(shape, expected).allSatisfy { m, e in
                    e == -1 || m.value == nil || m.value == e
                }
                if !fits {
                    let model = "[" + shape.map(\.description).joined(separator: ", ") + "]"
                    throw ServerError.badRequest("config.pbtxt: \(kind) '\(t.name)' \(t.reshape == nil ? "dims" : "reshape") "
                        + "\(t.reshape ?? t.dims)\(batched ? " after the batch dimension (max_batch_size > 0)" : "") do not fit the model's shape \(model)")
                }
            }
        }
        try compare(config.inputs, session.inputs, "input")
        try compare(config.outputs, session.outputs, "output")
    }

    /// Runs the config's warm-up samples (Triton's `model_warmup`), or one random sample of one
    /// row when it has none: a version is ready only after its warm-up succeeded.
    static func warmUp(_ session: Session, config: ModelConfig, batched: Bool) throws {
        guard !config.warmup.isEmpty else {
            do { _ = try session.run(try session.sampleInputs(batch: 1)) } catch {
                // Integer inputs that index a small table refuse random ids in 0..<10 (BERT's
                // token_type_ids has 2 rows); zeros index any table.
                _ = try session.run(try session.sampleInputs(batch: 1, intRange: 1))
            }
            return
        }
        let reshapes = TensorReshapes(config, batched: batched)
        var rng = SplitMix64(seed: 7)
        for w in config.warmup {
            func bad(_ m: String) -> ServerError { .badRequest("config.pbtxt: model_warmup '\(w.name)': \(m)") }
            var feeds: [String: Tensor] = [:]
            for (name, input) in w.inputs {
                guard session.inputs.contains(where: { $0.name == name }) else { throw bad("'\(name)' is not an input of the model") }
                let shape = (batched && w.batchSize > 0 ? [w.batchSize] : []) + input.dims
                guard let n = try? Shape.elementCount(shape), n <= Session.maxSampleElements else {
                    throw bad("input '\(name)' of shape \(shape) has more than \(Session.maxSampleElements) elements")
                }
                var t: Tensor
                switch input.source {
                case .zero:
                    t = try Tensor.zeros(input.dtype, shape: shape)
                case .random:
                    t = try Tensor(shape: shape, storage: randomStorage(input.dtype, count: n, rng: &rng))
                case let .file(url):
                    let data: Data
                    do { data = try Data(contentsOf: url) } catch { throw bad("cannot read \(url.lastPathComponent): \(error.localizedDescription)") }
                    do {
                        let storage = try data.withUnsafeBytes { raw in
                            try BinaryTensorCodec.decode(raw.bindMemory(to: UInt8.self), dtype: input.dtype, count: n, name: name, shape: shape)
                        }
                        t = try Tensor(shape: shape, storage: storage)
                    } catch { throw bad("\(url.lastPathComponent): \(error)") }
                }
                if let r = reshapes.inputs[name] { t = try reshapes.apply(t, r, name: name) }
                feeds[name] = t
            }
            for _ in 0..<w.count {
                do { _ = try session.run(feeds) } catch { throw bad("\(error)") }
            }
        }
    }

    private static func randomStorage(_ dtype: DType, count n: Int, rng: inout SplitMix64) -> TensorStorage {
        switch dtype {
        case .float32: return .float32((0..<n).map { _ in Float(rng.nextUnit() * 2 - 1) })
        case .float64: return .float64((0..<n).map { _ in rng.nextUnit() * 2 - 1 })
        case .float16: return .float16((0..<n).map { _ in Float16(rng.nextUnit() * 2 - 1) })
        case .bool: return .bool((0..<n).map { _ in rng.next() & 1 == 1 })
        case .string: return .string((0..<n).map { _ in "s\(rng.next() % 4)" })
        default:
            // Small non-negative integers stay valid as indices and token ids.
            let values = (0..<n).map { _ in Double(rng.next() % 10) }
            return dtype.withNumericType { t in convert(values, to: t) } ?? .zeros(dtype, count: n)
        }
    }

    private static func convert<T: NumericElement>(_ v: [Double], to: T.Type) -> TensorStorage {
        T.storage(v.map { T(fromDouble: $0) })
    }
}
