import BerthONNX
import BerthTensor
import Foundation

extension KernelRegistry {
    /// STFT (opset 17): signal [batch, length, 1|2], frame_step, optional window
    /// [frame_length] and frame_length; output [batch, frames, bins, 2] with frames =
    /// (length - frame_length) / frame_step + 1 and bins = frame_length/2 + 1 when `onesided`
    /// (the default), else frame_length.
    mutating func registerSTFT() {
        register("STFT", opsets: 17...Int.max) { node, _ in
            let onesided = try node.int("onesided", default: 1) != 0
            return { inputs, _ in
                let x = try inputs.required(0)
                guard x.dtype.isFloatingPoint, x.rank == 3, x.shape[2] == 1 || x.shape[2] == 2 else {
                    throw KernelError("STFT signal must be floating point [batch, length, 1 or 2], got \(x.dtype)\(x.shape)")
                }
                let step = try signalInteger(try inputs.required(1), "STFT frame_step")
                let window = inputs.optional(2)
                let given = try inputs.optional(3).map { try signalInteger($0, "STFT frame_length") }
                if let window, window.rank != 1 { throw KernelError("STFT window must be 1-D, got shape \(window.shape)") }
                guard let frameLength = given ?? window?.shape[0] else { throw KernelError("STFT needs a window or a frame_length") }
                if let window, window.shape[0] != frameLength {
                    throw KernelError("STFT window has \(window.shape[0]) samples; frame_length is \(frameLength)")
                }
                let (batch, length, comps) = (x.shape[0], x.shape[1], x.shape[2])
                guard step > 0, frameLength > 0, frameLength <= length else {
                    throw KernelError("STFT needs frame_step > 0 and 0 < frame_length <= signal length \(length), got \(step) and \(frameLength)")
                }
                let frames = (length - frameLength) / step + 1
                let bins = onesided ? frameLength / 2 + 1 : frameLength
                let outShape = [batch, frames, bins, 2]
                let total = try TensorFamily.count(outShape)
                let w = window?.doubles ?? [Double](repeating: 1, count: frameLength)
                let v = x.doubles
                let plan = PlainDFT(n: frameLength, inverse: false)
                var out = [Double](repeating: 0, count: total)
                var re = [Double](repeating: 0, count: frameLength), im = re
                for b in 0..<batch {
                    for f in 0..<frames {
                        for j in 0..<frameLength {
                            let base = (b * length + f * step + j) * comps
                            re[j] = v[base] * w[j]
                            im[j] = comps == 2 ? v[base + 1] * w[j] : 0
                        }
                        let (r, i) = plan.transform(re: re, im: im, bins: bins)
                        for k in 0..<bins {
                            let base = ((b * frames + f) * bins + k) * 2
                            out[base] = r[k]
                            out[base + 1] = i[k]
                        }
                    }
                }
                return [try doublesTensor(out, shape: outShape, dtype: x.dtype)]
            }
        }
    }
}
