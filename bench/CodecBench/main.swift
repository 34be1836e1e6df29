// The A/B figure behind keeping a hand-written JSON codec for tensor data: decodes V2 inference
// requests and encodes responses with BerthProtocol's codec and with Foundation's
// JSONDecoder/JSONEncoder on Codable types, in the same process, interleaved, medians.
//
//   swift build -c release --product berth-codec-bench && .build/release/berth-codec-bench
import BerthProtocol
import BerthTensor
import Foundation
import NIOCore

struct CodableInput: Codable { var name: String; var datatype: String; var shape: [Int]; var data: [Float] }
struct CodableRequest: Codable { var inputs: [CodableInput] }
struct CodableOutput: Codable { var name: String; var datatype: String; var shape: [Int]; var data: [Float] }
struct CodableResponse: Codable { var model_name: String; var model_version: String; var outputs: [CodableOutput] }

func median(_ xs: [Double]) -> Double { let s = xs.sorted(); return s[s.count / 2] }

func time(_ reps: Int, _ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    for _ in 0..<reps { try body() }
    return Double(DispatchTime.now().uptimeNanoseconds - start) / Double(reps) / 1000
}

var rng = SystemRandomNumberGenerator()
print("| payload | decode Berth µs | decode JSONDecoder µs | ratio | encode Berth µs | encode JSONEncoder µs | ratio |")
print("|---|---|---|---|---|---|---|")
for (rows, cols) in [(1, 64), (32, 64), (256, 1024)] {
    let n = rows * cols
    let values = (0..<n).map { _ in Float.random(in: -1...1, using: &rng) }
    let tensor = try Tensor(shape: [rows, cols], values: values)
    let request = V2InferenceRequest(inputs: [.init(name: "input", tensor: tensor)])
    let (body, _) = request.encode(binary: false)
    let bytes = Data(body.readableBytesView)
    let model = ModelInterface(name: "m", inputs: [TensorSpec(name: "input", dtype: .float32, shape: [nil, cols])],
                               outputs: [TensorSpec(name: "y", dtype: .float32, shape: [nil, cols])])
    let response = V2InferenceResponse(modelName: "m", modelVersion: "1", id: nil,
                                       outputs: [.init(name: "y", tensor: tensor, binary: false)])
    let codableResponse = CodableResponse(model_name: "m", model_version: "1",
                                          outputs: [CodableOutput(name: "y", datatype: "FP32", shape: [rows, cols], data: values)])
    let reps = max(3, 200_000 / n)
    var dB: [Double] = [], dF: [Double] = [], eB: [Double] = [], eF: [Double] = []
    for _ in 0..<9 {
        dB.append(try time(reps) { _ = try V2InferenceRequest(body: body, headerLength: nil, model: model) })
        dF.append(try time(reps) { _ = try JSONDecoder().decode(CodableRequest.self, from: bytes) })
        eB.append(time(reps) { _ = response.encode() })
        eF.append(try time(reps) { _ = try JSONEncoder().encode(codableResponse) })
    }
    let (a, b, c, d) = (median(dB), median(dF), median(eB), median(eF))
    print(String(format: "| %d×%d FP32 (%d KB) | %.1f | %.1f | %.1f× | %.1f | %.1f | %.1f× |", rows, cols, bytes.count / 1024,
                 a, b, b / a, c, d, d / c))
}
