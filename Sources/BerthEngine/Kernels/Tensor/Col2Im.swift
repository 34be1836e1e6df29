import BerthONNX
import BerthTensor

extension TensorFamily {
    /// Col2Im (opset 18): the inverse of im2col. input [N, C·∏block, L] holds one column per
    /// sliding-block position; the output [N, C, *image_shape] sums the blocks back in place,
    /// with `dilations`, `pads` (begin…, end…) and `strides` as in Conv.
    static func registerCol2Im(_ r: inout KernelRegistry) {
        r.register("Col2Im", opsets: 18...Int.max) { node, _ in
            let dilationsAttr = try node.ints("dilations"), padsAttr = try node.ints("pads"), stridesAttr = try node.ints("strides")
            return { inputs, _ in
                let x = try inputs.required(0)
                let image = try TensorFamily.ints(try inputs.required(1), "Col2Im image_shape")
                let block = try TensorFamily.ints(try inputs.required(2), "Col2Im block_shape")
                let k = image.count
                let dil = dilationsAttr ?? [Int](repeating: 1, count: k), str = stridesAttr ?? [Int](repeating: 1, count: k)
                let pads = padsAttr ?? [Int](repeating: 0, count: 2 * k)
                guard k > 0, block.count == k, dil.count == k, str.count == k, pads.count == 2 * k,
                      image.allSatisfy({ $0 > 0 }), block.allSatisfy({ $0 > 0 }), dil.allSatisfy({ $0 > 0 }), str.allSatisfy({ $0 > 0 }),
                      pads.allSatisfy({ $0 >= 0 }) else {
                    throw KernelError("Col2Im image_shape \(image), block_shape \(block), dilations \(dil), strides \(str), pads \(pads) do not agree")
                }
                let blockSize = try TensorFamily.checkedCount(block)
                guard x.rank == 3, x.dtype.isFloatingPoint, x.shape[1] % blockSize == 0 else {
                    throw KernelError("Col2Im input must be floating point [N, C·\(blockSize), L], got \(x.dtype)\(x.shape)")
                }
                let (n, c) = (x.shape[0], x.shape[1] / blockSize)
                // Block positions per spatial axis.
                var positions: [Int] = []
                for d in 0..<k {
                    let span = dil[d] * (block[d] - 1) + 1
                    let p = (image[d] + pads[d] + pads[k + d] - span) / str[d] + 1
                    guard image[d] + pads[d] + pads[k + d] >= span else { throw KernelError("Col2Im block \(block) does not fit image \(image) with pads \(pads)") }
                    positions.append(p)
                }
                let l = try TensorFamily.checkedCount(positions)
                guard x.shape[2] == l else { throw KernelError("Col2Im input has \(x.shape[2]) columns; the geometry gives \(l)") }
                let outShape = [n, c] + image
                var out = [Double](repeating: 0, count: try TensorFamily.count(outShape))
                let imageSize = image.reduce(1, *)  // bounded: the output's count was checked
                let v = x.doubles
                var bidx = [Int](repeating: 0, count: k), pidx = bidx
                for ni in 0..<n {
                    for ci in 0..<c {
                        for b in 0..<blockSize {
                            var rem = b
                            for d in stride(from: k - 1, through: 0, by: -1) { bidx[d] = rem % block[d]; rem /= block[d] }
                            for p in 0..<l {
                                var rp = p
                                for d in stride(from: k - 1, through: 0, by: -1) { pidx[d] = rp % positions[d]; rp /= positions[d] }
                                var offset = 0, inside = true
                                for d in 0..<k {
                                    let coord = pidx[d] * str[d] - pads[d] + bidx[d] * dil[d]
                                    if coord < 0 || coord >= image[d] { inside = false; break }
                                    offset = offset * image[d] + coord
                                }
                                if inside { out[(ni * c + ci) * imageSize + offset] += v[((ni * c + ci) * blockSize + b) * l + p] }
                            }
                        }
                    }
                }
                return [try doublesTensor(out, shape: outShape, dtype: x.dtype)]
            }
        }
    }
}
