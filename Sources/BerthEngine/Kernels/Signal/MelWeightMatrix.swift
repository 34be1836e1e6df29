import BerthONNX
import BerthTensor
import Foundation

extension KernelRegistry {
    /// MelWeightMatrix (opset 17): [dft_length/2 + 1, num_mel_bins] triangular filters, spaced
    /// evenly on the mel scale between the edge frequencies, as the ONNX reference and ONNX
    /// Runtime compute them (mel step = range / (num_mel_bins + 2); bin edges floored).
    mutating func registerMelWeightMatrix() {
        register("MelWeightMatrix", opsets: 17...Int.max) { node, _ in
            let dtype = try signalOutputType(node)
            return { inputs, _ in
                let bins = try signalInteger(try inputs.required(0), "num_mel_bins")
                let dftLength = try signalInteger(try inputs.required(1), "dft_length")
                let sampleRate = try signalInteger(try inputs.required(2), "sample_rate")
                let lower = try signalScalar(try inputs.required(3), "lower_edge_hertz")
                let upper = try signalScalar(try inputs.required(4), "upper_edge_hertz")
                guard bins > 0, dftLength > 0, sampleRate > 0 else {
                    throw KernelError("num_mel_bins, dft_length and sample_rate must be positive, got \(bins), \(dftLength), \(sampleRate)")
                }
                guard lower >= 0, lower < upper else { throw KernelError("need 0 <= lower_edge_hertz < upper_edge_hertz, got \(lower), \(upper)") }
                let spectrogramBins = dftLength / 2 + 1
                let count = try TensorFamily.count([spectrogramBins, bins])
                func mel(_ hz: Double) -> Double { 2595 * log10(1 + hz / 700) }
                let lowMel = mel(lower), highMel = mel(upper)
                let step = (highMel - lowMel) / Double(bins + 2)
                let edges = try (0..<(bins + 2)).map { i -> Int in
                    let hz = 700 * (pow(10, (Double(i) * step + lowMel) / 2595) - 1)
                    let b = ((Double(dftLength) + 1) * hz / Double(sampleRate)).rounded(.down)
                    guard b >= 0, b < Double(spectrogramBins) else {
                        throw KernelError("upper_edge_hertz \(upper) maps past the last of \(spectrogramBins) spectrogram bins")
                    }
                    return Int(b)
                }
                var out = [Double](repeating: 0, count: count)
                for i in 0..<bins {
                    let low = edges[i], center = edges[i + 1], high = edges[i + 2]
                    if center == low {
                        out[center * bins + i] = 1
                    } else {
                        for j in low...center { out[j * bins + i] = Double(j - low) / Double(center - low) }
                    }
                    if high > center {
                        for j in center..<high { out[j * bins + i] = Double(high - j) / Double(high - center) }
                    }
                }
                return [try doublesTensor(out, shape: [spectrogramBins, bins], dtype: dtype)]
            }
        }
    }
}
