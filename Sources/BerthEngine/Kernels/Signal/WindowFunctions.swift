import BerthONNX
import BerthTensor
import Foundation

extension KernelRegistry {
    /// HannWindow, HammingWindow and BlackmanWindow (opset 17): generalized cosine windows
    /// y[n] = a0 - a1·cos(2πn/N) + a2·cos(4πn/N), with N = size when `periodic` (the default),
    /// else size - 1.
    mutating func registerWindowFunctions() {
        let windows: [(String, Double, Double, Double)] = [
            ("HannWindow", 0.5, 0.5, 0),
            ("HammingWindow", 25.0 / 46.0, 21.0 / 46.0, 0),
            ("BlackmanWindow", 0.42, 0.5, 0.08),
        ]
        for (op, a0, a1, a2) in windows {
            register(op, opsets: 17...Int.max) { node, _ in
                let periodic = try node.int("periodic", default: 1) != 0
                let dtype = try signalOutputType(node)
                return { inputs, _ in
                    let size = try signalInteger(try inputs.required(0), "\(op) size")
                    guard size >= 0 else { throw KernelError("\(op) size must be >= 0, got \(size)") }
                    _ = try TensorFamily.count([size])
                    let denominator = Double(periodic ? size : size - 1)
                    let values = (0..<size).map { i -> Double in
                        // A symmetric window of size 1 is [1] (0/0 otherwise).
                        guard denominator > 0 else { return 1 }
                        let x = 2 * Double.pi * Double(i) / denominator
                        return a0 - a1 * cos(x) + a2 * cos(2 * x)
                    }
                    return [try doublesTensor(values, shape: [size], dtype: dtype)]
                }
            }
        }
    }
}
