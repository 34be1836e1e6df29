import BerthONNX
import Foundation

/// `berth optimize`: graph rewrites written back as standard ONNX. `basic` removes Identity and
/// inference Dropout, folds constants and removes dead nodes; `all` also folds
/// BatchNormalization into Conv and fuses MatMul + Add into Gemm.
public enum GraphOptimization {
    public enum Level: String, Sendable, CaseIterable {
        case basic, all
    }

    /// The rewritten model and, per pass, how many rewrites it made.
    public struct Result: Sendable {
        public var model: Onnx_ModelProto
        public var passes: [(name: String, rewrites: Int)]
    }

    static func passes(_ level: Level) -> [any GraphPass] {
        let basic: [any GraphPass] = [IdentityRemoval(), ConstantFolding(), DeadNodeRemoval()]
        switch level {
        case .basic: return basic
        case .all: return basic + [ConvBatchNormFolding(), GemmFusion(), DeadNodeRemoval()]
        }
    }

    public static func apply(_ model: Onnx_ModelProto, level: Level, baseDirectory: URL?) throws -> Result {
        var model = model
        let context = PassContext(model: model, baseDirectory: baseDirectory)
        var report: [(String, Int)] = []
        for pass in passes(level) {
            let n = try pass.apply(&model.graph, context)
            if let k = report.firstIndex(where: { $0.0 == pass.name }) { report[k].1 += n } else { report.append((pass.name, n)) }
        }
        return Result(model: model, passes: report)
    }
}
