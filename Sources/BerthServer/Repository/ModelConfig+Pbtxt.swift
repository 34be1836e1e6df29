import BerthTensor
import Foundation
import SwiftProtobuf

extension ModelConfig {
    /// Parses a Triton `config.pbtxt` (the text format of Triton's `model_config.proto`) of the
    /// model folder `directory` named `model`. Errors name the file and the field; the fields
    /// Berth reads but does not act on end up in ``ignoredFields``.
    public init(pbtxt text: String, model: String, directory: URL) throws {
        func bad(_ m: String) -> ServerError { .badRequest("config.pbtxt: \(m)") }
        let c: Inference_ModelConfig
        do {
            c = try Inference_ModelConfig(textFormatString: text)
        } catch let e as TextFormatDecodingError {
            throw bad("not a Triton model configuration: \(Self.locate(e, in: text))\(Self.describe(e))")
        } catch {
            throw bad("not a Triton model configuration: \(error)")
        }
        self.init()
        // `rest` keeps what Berth does not act on: each honoured field is cleared from it.
        var rest = c
        if !c.name.isEmpty, c.name != model { throw bad("'name' is '\(c.name)' but the model folder is '\(model)'") }
        rest.name = ""
        let isEnsemble = c.platform == "ensemble"
        guard ["", "onnxruntime_onnx", "ensemble"].contains(c.platform) else {
            throw bad("'platform' '\(c.platform)' is not served by Berth (onnxruntime_onnx or ensemble)")
        }
        guard ["", "onnxruntime"].contains(c.backend) else {
            throw bad("'backend' '\(c.backend)' is not served by Berth (onnxruntime)")
        }
        rest.platform = ""
        rest.backend = ""
        if ["", Self.onnxFileName].contains(c.defaultModelFilename) { rest.defaultModelFilename = "" }

        guard (0...Int32(Self.maxBatchSizeLimit)).contains(c.maxBatchSize) else {
            throw bad("'max_batch_size' must be 0...\(Self.maxBatchSizeLimit)")
        }
        maxBatchSize = Int(c.maxBatchSize)
        rest.maxBatchSize = 0
        if c.hasVersionPolicy {
            switch c.versionPolicy.policyChoice {
            case let .latest(l)?:
                guard l.numVersions >= 1 else { throw bad("'version_policy.latest.num_versions' must be >= 1") }
                versionPolicy = .latest(Int(l.numVersions))
            case .all?: versionPolicy = .all
            case let .specific(s)?:
                guard !s.versions.isEmpty else { throw bad("'version_policy.specific' lists no versions") }
                versionPolicy = .specific(s.versions.map { Int(clamping: $0) })
            case nil: break
            }
            rest.clearVersionPolicy()
        }
        inputs = try c.input.enumerated().map { i, t in
            try Self.tensor(name: t.name, type: t.dataType, dims: t.dims, reshape: t.hasReshape ? t.reshape.shape : nil,
                            field: "input[\(i)]", directory: directory, labels: "")
        }
        for i in rest.input.indices {
            rest.input[i].name = ""
            rest.input[i].dataType = .typeInvalid
            rest.input[i].dims = []
            rest.input[i].clearReshape()
        }
        outputs = try c.output.enumerated().map { i, t in
            try Self.tensor(name: t.name, type: t.dataType, dims: t.dims, reshape: t.hasReshape ? t.reshape.shape : nil,
                            field: "output[\(i)]", directory: directory, labels: t.labelFilename)
        }
        for i in rest.output.indices {
            rest.output[i].name = ""
            rest.output[i].dataType = .typeInvalid
            rest.output[i].dims = []
            rest.output[i].clearReshape()
            rest.output[i].labelFilename = ""
        }
        if case let .dynamicBatching(d)? = c.schedulingChoice {
            guard d.maxQueueDelayMicroseconds <= 60_000_000 else {
                throw bad("'dynamic_batching.max_queue_delay_microseconds' must be at most 60000000 (60 s)")
            }
            guard d.preferredBatchSize.allSatisfy({ $0 > 0 }) else { throw bad("'dynamic_batching.preferred_batch_size' must be positive") }
            guard d.priorityLevels <= 1000 else { throw bad("'dynamic_batching.priority_levels' must be at most 1000") }
            if d.priorityLevels > 0, !(1...d.priorityLevels).contains(d.defaultPriorityLevel) {
                throw bad("'dynamic_batching.default_priority_level' must be 1...\(d.priorityLevels) (priority_levels)")
            }
            dynamicBatching = DynamicBatching(maxQueueDelayMicroseconds: Int(d.maxQueueDelayMicroseconds),
                                              preferredBatchSizes: d.preferredBatchSize.map(Int.init),
                                              priorityLevels: Int(d.priorityLevels), defaultPriorityLevel: Int(d.defaultPriorityLevel))
            rest.dynamicBatching.preferredBatchSize = []
            rest.dynamicBatching.maxQueueDelayMicroseconds = 0
            rest.dynamicBatching.priorityLevels = 0
            rest.dynamicBatching.defaultPriorityLevel = 0
        }
        var instances = 0
        for (i, g) in c.instanceGroup.enumerated() {
            guard g.count >= 0 else { throw bad("'instance_group[\(i)].count' must be >= 0") }
            let (t, o) = instances.addingReportingOverflow(g.count == 0 ? 1 : Int(g.count))
            guard !o else { throw bad("'instance_group' counts overflow") }
            instances = t
            rest.instanceGroup[i].count = 0
            rest.instanceGroup[i].name = ""
            // Berth runs on the CPU: KIND_GPU stays in the warning.
            if g.kind != .gpu { rest.instanceGroup[i].kind = .auto }
        }
        if instances > 0 { instanceCount = instances }
        guard (1...Self.maxInstances).contains(instanceCount) else { throw bad("'instance_group' counts must add up to 1...\(Self.maxInstances)") }
        for (k, v) in c.parameters.sorted(by: { $0.key < $1.key }) {
            parameters[k] = v.stringValue
            if k == "intra_op_thread_count" {
                guard let n = Int(v.stringValue), (1...Self.maxInstances).contains(n) else {
                    throw bad("'parameters.intra_op_thread_count' must be 1...\(Self.maxInstances)")
                }
                threads = n
            } else {
                ignoredFields.append("parameters.\(k)")
            }
        }
        rest.parameters = [:]
        warmup = try c.modelWarmup.enumerated().map { i, w in try Self.warmup(w, field: "model_warmup[\(i)]", directory: directory) }
        rest.modelWarmup = []
        if case .ensembleScheduling? = c.schedulingChoice {
            guard isEnsemble else { throw bad("'ensemble_scheduling' needs platform: \"ensemble\"") }
            ensemble = try c.ensembleScheduling.step.enumerated().map { i, s in
                let f = "ensemble_scheduling.step[\(i)]"
                guard !s.modelName.isEmpty else { throw bad("'\(f).model_name' is empty") }
                guard s.modelName != model else { throw bad("'\(f).model_name' names the ensemble itself (a cycle)") }
                guard !s.inputMap.isEmpty, !s.outputMap.isEmpty else { throw bad("'\(f)' needs input_map and output_map") }
                guard s.modelVersion >= -1, s.modelVersion != 0 else { throw bad("'\(f).model_version' must be -1 (latest) or a version number") }
                return EnsembleStep(model: s.modelName, version: Int(clamping: s.modelVersion), inputMap: s.inputMap, outputMap: s.outputMap)
            }
            for i in rest.ensembleScheduling.step.indices {
                rest.ensembleScheduling.step[i].modelName = ""
                rest.ensembleScheduling.step[i].modelVersion = 0
                rest.ensembleScheduling.step[i].inputMap = [:]
                rest.ensembleScheduling.step[i].outputMap = [:]
            }
        }
        if isEnsemble {
            guard let steps = ensemble, !steps.isEmpty else { throw bad("platform 'ensemble' needs ensemble_scheduling with at least one step") }
            guard !inputs.isEmpty, !outputs.isEmpty else { throw bad("an ensemble declares its 'input' and 'output' tensors") }
        }
        ignoredFields = Self.setFieldPaths(rest) + ignoredFields
    }

    /// The model file of a version folder.
    static let onnxFileName = "model.onnx"

    private static func tensor(name: String, type: Inference_DataType, dims: [Int64], reshape: [Int64]?, field: String,
                               directory: URL, labels: String) throws -> TensorConfig {
        guard !name.isEmpty else { throw ServerError.badRequest("config.pbtxt: '\(field).name' is empty") }
        var dtype: DType?
        if type != .typeInvalid {
            guard let d = DType(triton: type) else {
                throw ServerError.badRequest("config.pbtxt: '\(field).data_type' \(type) is not supported")
            }
            dtype = d
        }
        guard dims.allSatisfy({ $0 >= -1 && $0 <= Int64(Int32.max) }) else {
            throw ServerError.badRequest("config.pbtxt: '\(field).dims' must be -1 or sizes")
        }
        if let reshape, !reshape.allSatisfy({ $0 >= -1 && $0 <= Int64(Int32.max) }) {
            throw ServerError.badRequest("config.pbtxt: '\(field).reshape' must be -1 or sizes")
        }
        let labelFile = labels.isEmpty ? nil : directory.appendingPathComponent(labels)
        if let labelFile, labels.contains("/") || !FileManager.default.fileExists(atPath: labelFile.path) {
            throw ServerError.badRequest("config.pbtxt: '\(field).label_filename' \(labels) is not a file of the model folder")
        }
        return TensorConfig(name: name, dtype: dtype, dims: dims.map { Int($0) }, reshape: reshape.map { $0.map { Int($0) } },
                            labelFile: labelFile)
    }

    private static func warmup(_ w: Inference_ModelWarmup, field: String, directory: URL) throws -> Warmup {
        func bad(_ m: String) -> ServerError { .badRequest("config.pbtxt: '\(field)\(m)") }
        guard !w.inputs.isEmpty else { throw bad(".inputs' is empty") }
        guard w.batchSize <= 1024, w.count <= 1000 else { throw bad("' batch_size must be at most 1024 and count at most 1000") }
        var inputs: [String: Warmup.Input] = [:]
        for (name, i) in w.inputs {
            guard let dtype = DType(triton: i.dataType) else { throw bad(".inputs[\(name)].data_type' \(i.dataType) is not supported") }
            guard i.dims.allSatisfy({ (0...(1 << 24)).contains($0) }) else { throw bad(".inputs[\(name)].dims' must be sizes") }
            let source: Warmup.Source
            switch i.inputDataType {
            case .zeroData?: source = .zero
            case .randomData?: source = .random
            case let .inputDataFile(f)?:
                let url = directory.appendingPathComponent("warmup").appendingPathComponent(f)
                guard !f.contains("/"), FileManager.default.fileExists(atPath: url.path) else {
                    throw bad(".inputs[\(name)].input_data_file' \(f) is not a file of the model's warmup/ folder")
                }
                source = .file(url)
            case nil: throw bad(".inputs[\(name)]' sets none of zero_data, random_data, input_data_file")
            }
            inputs[name] = Warmup.Input(dtype: dtype, dims: i.dims.map { Int($0) }, source: source)
        }
        return Warmup(name: w.name, batchSize: Int(w.batchSize), inputs: inputs, count: max(1, Int(w.count)))
    }

    /// The dotted paths of every field set in `message` (repeated and nested fields once each).
    static func setFieldPaths(_ message: some SwiftProtobuf.Message) -> [String] {
        var stack: [String] = []
        var out: [String] = []
        for raw in message.textFormatString().split(separator: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line == "}" {
                _ = stack.popLast()
            } else if line.hasSuffix("{") {
                stack.append(line.dropLast().trimmingCharacters(in: .whitespaces))
            } else if let colon = line.firstIndex(of: ":") {
                let path = (stack + [String(line[..<colon])]).joined(separator: ".")
                if !out.contains(path) { out.append(path) }
            }
        }
        return out
    }

    /// "line N ('…'): " for the first line at which the text fails with `e`, found by parsing
    /// ever longer prefixes (swift-protobuf's errors carry no position); "" when not found.
    private static func locate(_ e: TextFormatDecodingError, in text: String) -> String {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count <= 2000 else { return "" }
        for n in 1...max(1, lines.count) {
            do { _ = try Inference_ModelConfig(textFormatString: lines.prefix(n).joined(separator: "\n")) } catch let p as TextFormatDecodingError {
                // A prefix cut inside a message ends early; only the same error pins the line.
                if p == e { return "line \(n) ('\(lines[n - 1].trimmingCharacters(in: .whitespaces).prefix(80))'): " }
            } catch {}
        }
        return ""
    }

    private static func describe(_ e: TextFormatDecodingError) -> String {
        switch e {
        case .unknownField: return "a field name that Triton's model_config.proto does not define"
        case .unrecognizedEnumValue: return "an enum value that Triton's model_config.proto does not define"
        case .malformedNumber: return "a malformed number"
        case .conflictingOneOf: return "two fields of one oneof (e.g. dynamic_batching and ensemble_scheduling)"
        case .truncated: return "the text ends early (an unclosed '{'?)"
        default: return "malformed text (\(e))"
        }
    }
}

extension DType {
    /// The element type of a Triton `TYPE_*` data type (nil: invalid, BF16).
    init?(triton t: Inference_DataType) {
        switch t {
        case .typeBool: self = .bool
        case .typeUint8: self = .uint8
        case .typeUint16: self = .uint16
        case .typeUint32: self = .uint32
        case .typeUint64: self = .uint64
        case .typeInt8: self = .int8
        case .typeInt16: self = .int16
        case .typeInt32: self = .int32
        case .typeInt64: self = .int64
        case .typeFp16: self = .float16
        case .typeFp32: self = .float32
        case .typeFp64: self = .float64
        case .typeString: self = .string
        default: return nil
        }
    }
}
