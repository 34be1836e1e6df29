import BerthEngine
import BerthONNX
import BerthTensor
import Foundation

/// Ranges of a model's activations over sample data, for static quantization: the float model
/// runs on the calibration rows with the activations of interest added as graph outputs.
public enum Calibration {
    /// How a range is taken from the observed values.
    public enum Method: String, Sendable, CaseIterable {
        /// The smallest and largest value seen (ORT's MinMax).
        case minmax
        /// A symmetric range at the 99.999th percentile of |x| (ORT's Percentile), robust to outliers.
        case percentile
        /// The range whose 128-level quantization loses least information: the KL divergence
        /// between the activation's histogram and its quantized form (ORT's Entropy, TensorRT's method).
        case entropy
    }

    /// The (min, max) of each named activation over `data` (rows along dim 0 of the model's first input).
    static func ranges(of names: [String], model proto: Onnx_ModelProto, data: Tensor, method: Method,
                       baseDirectory: URL?) throws -> [String: (min: Float, max: Float)] {
        var probe = proto
        let existing = Set(probe.graph.output.map(\.name))
        for name in names where !existing.contains(name) {
            var v = Onnx_ValueInfoProto()
            v.name = name
            probe.graph.output.append(v)
        }
        let model: Model
        do { model = try ModelReader.convert(probe, baseDirectory: baseDirectory) } catch { throw OptimizeError.invalidModel("\(error)") }
        var options = SessionOptions()
        options.optimize = false  // every probed activation must stay a value of its own
        let session: Session
        do { session = try Session(model: model, options: options) } catch { throw OptimizeError.invalidModel("\(error)") }
        guard let input = session.inputs.first, session.inputs.count == 1 else {
            throw OptimizeError.badInput("static calibration feeds one input; the model has \(session.inputs.count)")
        }
        guard data.rank >= 1, data.shape[0] > 0 else { throw OptimizeError.badInput("the calibration data has no rows") }
        if let dtype = input.dtype, dtype != data.dtype {
            throw OptimizeError.badInput("the calibration data is \(data.dtype); input '\(input.name)' takes \(dtype)")
        }
        var lo = [String: Float](), hi = [String: Float](), samples = [String: [Float]]()
        var histograms = [String: EntropyHistogram]()
        let rows = data.shape[0], batch = 64
        for start in stride(from: 0, to: rows, by: batch) {
            let outputs: [String: Tensor]
            do { outputs = try session.run([input.name: try data.rows(start..<min(rows, start + batch))]) } catch {
                throw OptimizeError.badInput("the model cannot run on the calibration data: \(error)")
            }
            for name in names {
                guard let t = outputs[name], t.dtype == .float32 else { continue }
                let v = t.floats
                lo[name] = min(lo[name] ?? .infinity, v.min() ?? 0)
                hi[name] = max(hi[name] ?? -.infinity, v.max() ?? 0)
                if method == .percentile { samples[name, default: []].append(contentsOf: v.map(abs)) }
                if method == .entropy {
                    if histograms[name] == nil { histograms[name] = EntropyHistogram(v) } else { histograms[name]!.merge(v) }
                }
            }
        }
        var out: [String: (Float, Float)] = [:]
        for name in names {
            guard let l = lo[name], let h = hi[name], l.isFinite, h.isFinite else { continue }
            switch method {
            case .minmax: out[name] = (l, h)
            case .percentile:
                var s = samples[name] ?? []
                s.sort()
                let bound = s.isEmpty ? 0 : s[min(s.count - 1, Int((Double(s.count) * 0.99999).rounded(.down)))]
                out[name] = (l < 0 ? -bound : 0, bound)
            case .entropy:
                out[name] = histograms[name]?.entropyThreshold() ?? (l, h)
            }
        }
        return out
    }
}

